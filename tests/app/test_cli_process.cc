// The tapegrad binary as a process: SIGKILL in the middle of an epoch and
// --resume give the uninterrupted run's files byte for byte; a full disk
// (RLIMIT_FSIZE) or an injected failure during the per-epoch checkpoint keeps
// the previous checkpoint; a diverging run (--lr 1e6) stops with the step and
// the culprit and keeps the last good checkpoint.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../data/fixtures.h"
#include "app.h"
#include "report.h"

namespace fs = std::filesystem;

namespace {

#ifndef TG_TAPEGRAD_BIN
#error "TG_TAPEGRAD_BIN (the path of the tapegrad binary) must be defined by CMake"
#endif

struct Proc {
  pid_t pid = -1;
};

// Starts `tapegrad args...` with stdout/stderr going to `log`; with fsize > 0
// the child may write files of at most fsize bytes (SIGXFSZ ignored: EFBIG);
// env: variables set in the child only.
Proc start(const std::vector<std::string>& args, const std::string& log, long fsize = -1,
           const std::vector<std::pair<std::string, std::string>>& env = {}) {
  std::vector<std::string> all = {TG_TAPEGRAD_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    if (fsize > 0) {
      ::signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {rlim_t(fsize), rlim_t(fsize)};
      ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return {pid};
}

int wait_exit(Proc p) {
  int status = 0;
  REQUIRE(::waitpid(p.pid, &status, 0) == p.pid);
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int run(const std::vector<std::string>& args, const std::string& log, long fsize = -1,
        const std::vector<std::pair<std::string, std::string>>& env = {}) {
  return wait_exit(start(args, log, fsize, env));
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int count_temp_files(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

struct Data {
  tg_test::TempDir dir;
  std::string root;
  Data() {
    root = dir.file("digits");
    fs::create_directories(root);
    tg_test::write_mnist_fixture(root, "train", 200);
    tg_test::write_mnist_fixture(root, "t10k", 50);
  }
  // 200 images, batch 32: 7 batches per epoch.
  std::vector<std::string> train_args(const std::string& out, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"train", "--model", "mlp", "--data", "mnist-digits", "--data-root", root,
                                  "--epochs", "3", "--batch-size", "32", "--seed", "5", "--quiet", "--out", out};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

}  // namespace

TEST_CASE("cli: SIGKILL in the middle of an epoch, then --resume, gives the uninterrupted run's files byte for byte") {
  Data d;
  const std::string straight = d.dir.file("straight"), killed = d.dir.file("killed");
  REQUIRE(run(d.train_args(straight), d.dir.file("straight.log")) == 0);

  // Pause after 10 batches (epoch 2, batch 4 of 7): the epoch-1 checkpoint exists.
  Proc p = start(d.train_args(killed, {"--pause-after-batches", "10"}), d.dir.file("killed.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!fs::exists(killed + "/.paused")) {
    int status = 0;
    if (::waitpid(p.pid, &status, WNOHANG) == p.pid) FAIL("tapegrad exited before pausing: " << slurp(d.dir.file("killed.log")));
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "tapegrad did not reach batch 10 within 5 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto st = tg::load_safetensors(killed + "/train_state.safetensors");
  CHECK(st.metadata.at("epochs_done") == "1");
  REQUIRE(::kill(p.pid, SIGKILL) == 0);
  CHECK(wait_exit(p) == 1000 + SIGKILL);

  REQUIRE(run(d.train_args(killed, {"--resume"}), d.dir.file("resume.log")) == 0);
  CHECK(slurp(killed + "/model.safetensors") == slurp(straight + "/model.safetensors"));
  CHECK(slurp(killed + "/train_state.safetensors") == slurp(straight + "/train_state.safetensors"));
  CHECK(slurp(killed + "/metrics.csv").size() > 0);
  CHECK(count_temp_files(killed) == 0);
}

TEST_CASE("cli: a full disk during the per-epoch checkpoint keeps the previous one, and resume still works") {
  Data d;
  const std::string straight = d.dir.file("straight"), out = d.dir.file("full");
  REQUIRE(run(d.train_args(straight), d.dir.file("straight.log")) == 0);
  // Epoch 1 completes and is checkpointed; the run stops at the start of epoch 2.
  REQUIRE(run(d.train_args(out, {"--stop-after-batches", "7"}), d.dir.file("a.log")) == 0);
  const std::string state = out + "/train_state.safetensors";
  const std::string good = slurp(state);
  REQUIRE(good.size() > 1000);
  // Resume with files limited to half the checkpoint: the epoch-2 save fails.
  const int rc = run(d.train_args(out, {"--resume"}), d.dir.file("b.log"), long(good.size() / 2));
  CHECK(rc == 1);
  const std::string log = slurp(d.dir.file("b.log"));
  CHECK_MESSAGE(log.find("File too large") != std::string::npos, log);
  CHECK(slurp(state) == good);
  CHECK(tg::load_safetensors(state).metadata.at("epochs_done") == "1");
  CHECK(count_temp_files(out) == 0);
  // With room again, the run resumes from epoch 1 and ends where the straight run did.
  REQUIRE(run(d.train_args(out, {"--resume"}), d.dir.file("c.log")) == 0);
  CHECK(slurp(out + "/model.safetensors") == slurp(straight + "/model.safetensors"));
}

TEST_CASE("cli: an injected failure in the per-epoch checkpoint keeps the previous one") {
  Data d;
  tgapp::RunConfig c;
  c.model = "mlp";
  c.data = "mnist-digits";
  c.data_root = d.root;
  c.out = d.dir.file("inject");
  c.epochs = 2;
  c.batch_size = 32;
  c.quiet = true;
  c.stop_after_batches = 7;
  tgapp::run_train(c);
  const std::string state = c.out + "/train_state.safetensors";
  const std::string good = slurp(state);
  c.stop_after_batches = -1;
  c.resume = true;
  tg::testing::set_safetensors_fail_after(int64_t(good.size() / 2));
  CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("injected failure"), tg::Error);
  tg::testing::set_safetensors_fail_after(-1);
  CHECK(slurp(state) == good);
  CHECK(count_temp_files(c.out) == 0);
  tgapp::RunResult r = tgapp::run_train(c);
  CHECK(r.epochs_done == 2);
}

TEST_CASE("cli: a diverging run (--lr 1e6) stops with the step and the culprit and keeps the last good checkpoint") {
  Data d;
  const std::string out = d.dir.file("nan");
  // A good epoch first: its checkpoint must survive the diverging run.
  REQUIRE(run(d.train_args(out, {"--stop-after-batches", "7"}), d.dir.file("good.log")) == 0);
  const std::string good = slurp(out + "/train_state.safetensors");
  const std::string good_model = slurp(out + "/model.safetensors");
  const int rc = run(d.train_args(out, {"--optimizer", "sgd", "--lr", "1e6"}), d.dir.file("nan.log"));
  const std::string log = slurp(d.dir.file("nan.log"));
  CAPTURE(log);
  CHECK(rc == 1);
  CHECK(log.find("training diverged") != std::string::npos);
  CHECK(log.find("at step ") != std::string::npos);
  CHECK((log.find("parameter '") != std::string::npos || log.find("op '") != std::string::npos ||
         log.find("layer ") != std::string::npos));
  CHECK(log.find("try a smaller --lr") != std::string::npos);
  CHECK(slurp(out + "/train_state.safetensors") == good);
  CHECK(slurp(out + "/model.safetensors") == good_model);
  CHECK(count_temp_files(out) == 0);
  // Adam at --lr 1e6 blows the loss up to ~1e23 without overflowing: stopped too.
  const int rc2 = run(d.train_args(out, {"--lr", "1e6"}), d.dir.file("adam.log"));
  const std::string log2 = slurp(d.dir.file("adam.log"));
  CAPTURE(log2);
  CHECK(rc2 == 1);
  CHECK(log2.find("training diverged") != std::string::npos);
  CHECK(log2.find("at step ") != std::string::npos);
  CHECK(log2.find("parameter '") != std::string::npos);
  CHECK(slurp(out + "/train_state.safetensors") == good);
}

TEST_CASE("cli: TG_PROFILE_REGIONS=1 prints the parallel regions per call site at exit, and nothing with 0") {
  Data d;
  // "0" is off (and overrides a TG_PROFILE_REGIONS=1 the test run may have)
  REQUIRE(run(d.train_args(d.dir.file("plain")), d.dir.file("plain.log"), -1, {{"TG_PROFILE_REGIONS", "0"}}) == 0);
  CHECK(slurp(d.dir.file("plain.log")).find("parallel regions") == std::string::npos);
  REQUIRE(run(d.train_args(d.dir.file("prof"), {"--threads", "2"}), d.dir.file("prof.log"), -1,
              {{"TG_PROFILE_REGIONS", "1"}}) == 0);
  const std::string log = slurp(d.dir.file("prof.log"));
  CAPTURE(log);
  CHECK(log.find("parallel regions (2 thread(s); wall time on the calling thread, ") != std::string::npos);
  CHECK(log.find("| site | calls | total ms | us per call | share |") != std::string::npos);
  CHECK(log.find("| tg::{anon}::gemm_impl::{lambda}") != std::string::npos);  // the MLP's products
  CHECK(log.find("| tg::optim::detail::for_each_chunk::{lambda}") != std::string::npos);  // the optimizer
}

namespace {
// args with option `key` set to `value` (replaced if present, else added).
std::vector<std::string> with(std::vector<std::string> args, const std::string& key, const std::string& value) {
  auto it = std::find(args.begin(), args.end(), key);
  if (it != args.end()) *(it + 1) = value;
  else args.insert(args.end(), {key, value});
  return args;
}

// model, train state, curves and predictions byte for byte; metrics.csv by its
// numbers (its seconds column is wall-clock time).
void check_same_files(const std::string& got, const std::string& want) {
  for (const char* f : {"model.safetensors", "train_state.safetensors", "curves.svg", "predictions.svg"}) {
    CAPTURE(f);
    REQUIRE(fs::exists(want + "/" + f));
    CHECK(slurp(got + "/" + f) == slurp(want + "/" + f));
  }
  const auto rows = [](const std::string& dir) {
    std::vector<std::vector<double>> v;
    for (const auto& r : tgapp::read_metrics_csv(dir + "/metrics.csv"))
      v.push_back({double(r.epoch), r.train_loss, r.train_acc, r.test_loss, r.test_acc});
    return v;
  };
  CHECK(rows(got) == rows(want));
}
}  // namespace

// Found by a review (session 12): a kill after train_state.safetensors of the
// last epoch left model.safetensors stale (or missing) and --resume succeeded.
TEST_CASE("cli: SIGKILL between any two writes of a checkpoint, then --resume, gives the uninterrupted run's files") {
  Data d;
  const std::string straight = d.dir.file("straight"), straight1 = d.dir.file("straight1");
  REQUIRE(run(d.train_args(straight), d.dir.file("straight.log")) == 0);
  REQUIRE(run(with(d.train_args(straight1), "--epochs", "1"), d.dir.file("straight1.log")) == 0);
  struct Point {
    const char* at;
    const char* epochs;
  };
  for (const Point& p : {Point{"metrics.csv@3", "3"}, Point{"train_state.safetensors@3", "3"},
                         Point{"model.safetensors@3", "3"}, Point{"curves.svg@3", "3"}, Point{"metrics.csv@2", "3"},
                         Point{"train_state.safetensors@2", "3"}, Point{"train_state.safetensors@1", "1"},
                         Point{"model.safetensors@1", "1"}}) {
    CAPTURE(p.at);
    const std::string out = d.dir.file(std::string("kill-") + p.at);
    const std::string log = out + ".log";
    REQUIRE(run(with(d.train_args(out, {"--crash-after-write", p.at}), "--epochs", p.epochs), log) == 1000 + SIGKILL);
    CHECK(!fs::exists(out + "/predictions.svg"));
    const int rc = run(with(d.train_args(out, {"--resume"}), "--epochs", p.epochs), log);
    CHECK_MESSAGE(rc == 0, slurp(log));
    check_same_files(out, std::string(p.epochs) == "1" ? straight1 : straight);
  }
}

TEST_CASE("cli: a new run killed while replacing an earlier run's files leaves no folder --resume accepts") {
  Data d;
  const std::string out = d.dir.file("run"), ref = d.dir.file("ref");
  REQUIRE(run(d.train_args(out), d.dir.file("a.log")) == 0);
  // A run with another seed into the same folder, killed right after its
  // first metrics.csv: the earlier train_state.safetensors is gone, so neither
  // run resumes from the mix of the two.
  REQUIRE(run(with(d.train_args(out, {"--crash-after-write", "metrics.csv@1"}), "--seed", "6"), d.dir.file("b.log")) ==
          1000 + SIGKILL);
  CHECK(!fs::exists(out + "/train_state.safetensors"));
  CHECK(tgapp::read_metrics_csv(out + "/metrics.csv").size() == 1);
  CHECK(run(d.train_args(out, {"--resume"}), d.dir.file("c.log")) == 1);
  CHECK(slurp(d.dir.file("c.log")).find("nothing to resume") != std::string::npos);
  CHECK(run(with(d.train_args(out, {"--resume"}), "--seed", "6"), d.dir.file("d.log")) == 1);
  // Run again, it replaces the folder with a whole run; killed after its first
  // train state, it resumes to the uninterrupted run.
  REQUIRE(run(with(d.train_args(out, {"--crash-after-write", "train_state.safetensors@1"}), "--seed", "6"), d.dir.file("e.log")) ==
          1000 + SIGKILL);
  REQUIRE(run(with(d.train_args(out, {"--resume"}), "--seed", "6"), d.dir.file("f.log")) == 0);
  REQUIRE(run(with(d.train_args(ref), "--seed", "6"), d.dir.file("ref.log")) == 0);
  check_same_files(out, ref);
  // Without --quiet, a run into a used folder says so.
  std::vector<std::string> args = with(d.train_args(out, {"--stop-after-batches", "0"}), "--epochs", "1");
  args.erase(std::find(args.begin(), args.end(), "--quiet"));
  REQUIRE(run(args, d.dir.file("g.log")) == 0);
  CHECK(slurp(d.dir.file("g.log")).find("holds an earlier run; this run replaces it when its first epoch ends") !=
        std::string::npos);
}
