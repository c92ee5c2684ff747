// No lost checkpoints: a save that fails half-way (the injection hook, or a
// real "file too large" from RLIMIT_FSIZE in a forked child) leaves the
// previous checkpoint intact and loadable, and no temporary file behind.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "../data/fixtures.h"
#include "tapegrad/tapegrad.h"

namespace fs = std::filesystem;

namespace {

int count_temp_files(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

void fill(tg::nn::Module& m, float v) {
  tg::NoGradGuard ng;
  for (auto& p : m.parameters()) {
    float* d = p.data_ptr<float>();
    for (int64_t i = 0; i < p.numel(); ++i) d[i] = v;
  }
}

// The saved weights equal `v` everywhere.
void check_checkpoint(const std::string& path, float v) {
  tg::nn::Linear m(64, 32);
  REQUIRE_NOTHROW(tg::load(m, path));
  for (auto& p : m.parameters()) {
    const float* d = p.data_ptr<float>();
    for (int64_t i = 0; i < p.numel(); ++i) REQUIRE(d[i] == v);
  }
}

}  // namespace

TEST_CASE("reliability: a save that fails half-way keeps the previous checkpoint (injected failure)") {
  tg_test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  tg::nn::Linear m(64, 32);
  fill(m, 1.0f);
  tg::save(m, path);
  const auto good = tg_test::read_bytes(path);
  fill(m, 2.0f);
  tg::testing::set_safetensors_fail_after(int64_t(good.size() / 2));
  try {
    tg::save(m, path);
    FAIL_CHECK("the injected failure did not throw");
  } catch (const tg::Error& e) {
    CHECK(std::string(e.what()).find("injected failure") != std::string::npos);
  }
  tg::testing::set_safetensors_fail_after(-1);
  CHECK(tg_test::read_bytes(path) == good);
  check_checkpoint(path, 1.0f);
  CHECK(count_temp_files(dir.path) == 0);
  // The next save succeeds and replaces it.
  tg::save(m, path);
  check_checkpoint(path, 2.0f);
  CHECK(count_temp_files(dir.path) == 0);
}

TEST_CASE("reliability: a save that hits a full disk (RLIMIT_FSIZE) keeps the previous checkpoint") {
  tg_test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  tg::nn::Linear m(64, 32);
  fill(m, 1.0f);
  tg::save(m, path);
  const auto good = tg_test::read_bytes(path);
  fill(m, 3.0f);
  // The child may only write files up to half the checkpoint's size; SIGXFSZ is
  // ignored so write() fails with EFBIG instead of killing the process.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {rlim_t(good.size() / 2), rlim_t(good.size() / 2)};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(3);
    int code = 1;
    try {
      tg::save(m, path);
    } catch (const tg::Error& e) {
      code = std::strstr(e.what(), "File too large") != nullptr ? 0 : 2;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit code ", WEXITSTATUS(status),
                " (1: the save did not fail, 2: unclear message, 3: setrlimit failed)");
  CHECK(tg_test::read_bytes(path) == good);
  check_checkpoint(path, 1.0f);
  CHECK(count_temp_files(dir.path) == 0);
}
