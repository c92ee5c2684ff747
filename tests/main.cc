// The doctest entry point for tapegrad_tests.
//
// ctest runs one test case per process through --test-case=<name>
// (doctest_discover_tests). A filter that selects no test case makes doctest
// report success with 0 assertions, so a case whose name ctest split (a ';' in
// a name is a CMake list separator: 20 cases ran nowhere until session 12)
// would pass without running. Here a run with a test-case filter that selects
// nothing fails and names the filter.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

namespace {

unsigned g_selected = 0;  // test cases that passed the filters in the last run
bool g_ran = false;       // a test run took place (not a query such as --list-test-cases)

struct SelectionCounter : doctest::IReporter {
  explicit SelectionCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override {
    g_ran = true;
    g_selected = s.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("selection_counter", 1, SelectionCounter);

int main(int argc, char** argv) {
  const char* filter = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--test-case=") || a.starts_with("-tc=")) filter = argv[i];
  }
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  if (filter && g_ran && g_selected == 0) {
    std::fprintf(stderr, "tapegrad_tests: %s selects no test case (ctest splits a test name at each ';')\n",
                 filter);
    return rc ? rc : 1;
  }
  return rc;
}
