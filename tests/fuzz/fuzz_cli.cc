// libFuzzer target: the tapegrad command's option parsing. The input is split
// into arguments at newlines and NUL bytes; argv[0] is "tapegrad". parse_cli
// must return an exit code or "run" for every argv, never crash or throw.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"tapegrad"};
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    const char c = char(data[i]);
    if (c == '\n' || c == '\0') {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty() || size == 0) args.push_back(cur);
  if (args.size() > 64) return 0;
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  tgapp::CliArgs parsed;
  std::ostringstream out, err;
  const int rc = tgapp::parse_cli(int(args.size()), argv.data(), parsed, out, err);
  if (rc < 0 && parsed.command.empty()) __builtin_trap();  // "run" must name a command
  return 0;
}
