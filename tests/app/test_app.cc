// The tapegrad command's train/finetune/eval functions on small fixture data:
// exact resume, the run folder's files, and clear errors that never clobber
// good files.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <set>
#include <sstream>

#include "../data/fixtures.h"
#include "app.h"
#include "cli.h"
#include "report.h"

namespace fs = std::filesystem;

namespace {
struct Fixture {
  tg_test::TempDir dir;
  std::string data, out;
  Fixture() {
    data = dir.file("digits");
    fs::create_directories(data);
    tg_test::write_mnist_fixture(data, "train", 200);
    tg_test::write_mnist_fixture(data, "t10k", 50);
    out = dir.file("runs");
  }
  tgapp::RunConfig config(const std::string& name) const {
    tgapp::RunConfig c;
    c.model = "mlp";
    c.data = "mnist-digits";
    c.data_root = data;
    c.out = out + "/" + name;
    c.epochs = 3;
    c.batch_size = 32;  // 7 batches per epoch
    c.seed = 5;
    c.quiet = true;
    return c;
  }
};

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("app: an interrupted and resumed run ends with bit-identical weights") {
  Fixture fx;
  tgapp::RunConfig a = fx.config("straight");
  tgapp::run_train(a);
  tgapp::RunConfig b = fx.config("interrupted");
  b.stop_after_batches = 10;  // in the middle of epoch 2
  tgapp::RunResult r = tgapp::run_train(b);
  CHECK(r.epochs_done == 1);
  b.stop_after_batches = -1;
  b.resume = true;
  tgapp::run_train(b);
  const auto wa = tg::load_safetensors(a.out + "/model.safetensors");
  const auto wb = tg::load_safetensors(b.out + "/model.safetensors");
  REQUIRE(wa.tensors.size() == 6);
  for (const auto& [k, t] : wa.tensors) {
    CAPTURE(k);
    const tg::Tensor& u = wb.tensors.at(k);
    REQUIRE(u.shape() == t.shape());
    CHECK(std::memcmp(t.raw_data(), u.raw_data(), size_t(t.numel()) * tg::dtype_size(t.dtype())) == 0);
  }
  // metrics.csv has one row per epoch, the interrupted epoch counted once.
  const auto rows = tgapp::read_metrics_csv(b.out + "/metrics.csv");
  REQUIRE(rows.size() == 3);
  CHECK(rows[2].epoch == 3);
  const auto rows_a = tgapp::read_metrics_csv(a.out + "/metrics.csv");
  CHECK(rows_a[2].test_acc == rows[2].test_acc);
  CHECK(rows_a[2].train_loss == rows[2].train_loss);
}

TEST_CASE("app: a run folder holds metrics, curves, predictions and checkpoints") {
  Fixture fx;
  tgapp::RunConfig c = fx.config("files");
  c.epochs = 2;
  tgapp::RunResult r = tgapp::run_train(c);
  CHECK(r.epochs_done == 2);
  const std::string csv = slurp(c.out + "/metrics.csv");
  CHECK(csv.rfind("epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds\n", 0) == 0);
  CHECK(tgapp::read_metrics_csv(c.out + "/metrics.csv").size() == 2);
  CHECK(slurp(c.out + "/curves.svg").find("<svg") == 0);
  CHECK(slurp(c.out + "/predictions.svg").find("true / predicted") != std::string::npos);
  const auto st = tg::load_safetensors(c.out + "/train_state.safetensors");
  CHECK(st.metadata.at("epochs_done") == "2");
  CHECK(st.tensors.count("model.0.weight") == 1);
  CHECK(st.tensors.count("optim.state.0.exp_avg") == 1);
  CHECK(tgapp::run_eval(c.out + "/model.safetensors", "mnist-digits", fx.data, 0) == 0);
  CHECK(tgapp::run_inspect(c.out + "/model.safetensors") == 0);
}

TEST_CASE("app: fine-tuning modes train the right parameters") {
  Fixture fx;
  tgapp::RunConfig pre = fx.config("pre");
  pre.epochs = 1;
  pre.seed = 9;  // scratch runs (seed 5) must not start from the same initialization
  tgapp::run_train(pre);
  for (const std::string mode : {"full", "frozen", "scratch"}) {
    CAPTURE(mode);
    tgapp::RunConfig f = fx.config("ft-" + mode);
    f.epochs = 1;
    f.mode = mode;
    f.from = mode == "scratch" ? "" : pre.out + "/model.safetensors";
    tgapp::run_finetune(f);
    const auto p = tg::load_safetensors(pre.out + "/model.safetensors");
    const auto q = tg::load_safetensors(f.out + "/model.safetensors");
    const auto same = [&](const std::string& k) {
      const tg::Tensor &x = p.tensors.at(k), &y = q.tensors.at(k);
      return std::memcmp(x.raw_data(), y.raw_data(), size_t(x.numel()) * 4) == 0;
    };
    // frozen keeps the backbone bit for bit; full and scratch change it.
    CHECK(same("0.weight") == (mode == "frozen"));
    CHECK(!same("4.weight"));  // the head is new in every mode
  }
}

TEST_CASE("app: --limit keeps the first N examples, a seeded random N, or N balanced over the classes") {
  Fixture fx;
  auto full = tgapp::open_dataset("mnist-digits", fx.data, tg::data::Split::Train);  // 200 examples
  const auto indices = [&](tgapp::RunConfig c) {
    auto d = std::dynamic_pointer_cast<const tg::data::Subset>(tgapp::training_examples(c, full));
    REQUIRE(d != nullptr);
    return d->indices();
  };
  tgapp::RunConfig c = fx.config("limit");
  CHECK(tgapp::training_examples(c, full) == full);  // no --limit: the whole split
  c.limit = 20;
  std::vector<int64_t> first(20);
  for (int64_t i = 0; i < 20; ++i) first[size_t(i)] = i;
  CHECK(indices(c) == first);
  c.sample = "random";
  const std::vector<int64_t> r5 = indices(c);
  REQUIRE(r5.size() == 20);
  CHECK(std::set<int64_t>(r5.begin(), r5.end()).size() == 20);  // distinct
  for (int64_t i : r5) CHECK((i >= 0 && i < 200));
  CHECK(r5 != first);
  CHECK(indices(c) == r5);  // the same seed, the same examples
  c.mode = "frozen";
  CHECK(indices(c) == r5);  // whatever the mode
  c.seed = 6;
  CHECK(indices(c) != r5);
  // balanced: 23 = 2 of each of the 10 classes + 1 more of classes 0, 1, 2
  c.seed = 5;
  c.sample = "balanced";
  c.limit = 23;
  const std::vector<int64_t> b5 = indices(c);
  REQUIRE(b5.size() == 23);
  CHECK(std::set<int64_t>(b5.begin(), b5.end()).size() == 23);
  std::vector<int> per_class(10, 0);
  for (int64_t i : b5) ++per_class[size_t(tg_test::fixture_label(i))];
  CHECK(per_class == std::vector<int>{3, 3, 3, 2, 2, 2, 2, 2, 2, 2});
  CHECK(indices(c) == b5);
  c.seed = 6;
  CHECK(indices(c) != b5);
  c.limit = 200;  // every example (20 of each class)
  CHECK(indices(c).size() == 200);
  c.limit = 201;
  CHECK_THROWS_WITH(tgapp::training_examples(c, full),
                    doctest::Contains("--limit 201 is larger than the training split (200 examples)"));
  std::vector<int64_t> one_nine;  // 10 of each class 0-8, one 9
  for (int64_t i = 0; i < 100; ++i)
    if (tg_test::fixture_label(i) != 9 || i == 9) one_nine.push_back(i);
  c.limit = 20;
  CHECK_THROWS_WITH(tgapp::training_examples(c, std::make_shared<tg::data::Subset>(full, one_nine)),
                    doctest::Contains("--sample balanced: class 9 has too few examples for --limit 20 (1 missing)"));
}

TEST_CASE("app: bad input gives one clear error and leaves good files alone") {
  Fixture fx;
  tgapp::RunConfig good = fx.config("good");
  good.epochs = 1;
  tgapp::run_train(good);
  const std::string before = slurp(good.out + "/model.safetensors");

  tgapp::RunConfig c = fx.config("bad");
  c.data_root = fx.dir.file("nowhere");
  CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("scripts/get-data"), tg::Error);

  // A checkpoint of another architecture: an MLP checkpoint into LeNet.
  tgapp::RunConfig f = fx.config("good");  // same folder as the good run
  f.model = "lenet";
  f.from = good.out + "/model.safetensors";
  f.mode = "full";
  CHECK_THROWS_WITH_AS(tgapp::run_finetune(f), doctest::Contains("the lenet model"), tg::Error);
  CHECK(slurp(good.out + "/model.safetensors") == before);

  tgapp::RunConfig w = fx.config("x");
  std::ofstream(fx.dir.file("a-file")) << "x";
  w.out = fx.dir.file("a-file") + "/run";
  CHECK_THROWS_WITH_AS(tgapp::run_train(w), doctest::Contains("cannot create the output folder"), tg::Error);

  tgapp::RunConfig r = fx.config("never-ran");
  r.resume = true;
  CHECK_THROWS_WITH_AS(tgapp::run_train(r), doctest::Contains("nothing to resume"), tg::Error);

  tgapp::RunConfig m = fx.config("good");
  m.resume = true;
  m.lr = 0.5;
  CHECK_THROWS_WITH_AS(tgapp::run_train(m), doctest::Contains("was made with lr="), tg::Error);
  CHECK(slurp(good.out + "/model.safetensors") == before);

  // a train state whose epochs_done is missing or not a number: an error
  // naming the file (was a bare "map::at" / "stoi")
  tgapp::RunConfig e = fx.config("good");
  e.resume = true;
  const std::string state = good.out + "/train_state.safetensors";
  tg::SafetensorsFile st = tg::load_safetensors(state);
  st.metadata["epochs_done"] = "two";
  tg::save_safetensors(state, st.tensors, st.metadata);
  CHECK_THROWS_WITH_AS(tgapp::run_train(e), doctest::Contains("'epochs_done' is not an integer: 'two'"), tg::Error);
  st.metadata.erase("epochs_done");
  tg::save_safetensors(state, st.tensors, st.metadata);
  CHECK_THROWS_WITH_AS(tgapp::run_train(e), doctest::Contains("train_state.safetensors' has no epochs_done"), tg::Error);
  st.metadata["epochs_done"] = "99";
  tg::save_safetensors(state, st.tensors, st.metadata);
  CHECK_THROWS_WITH_AS(tgapp::run_train(e), doctest::Contains("says epochs_done = 99, outside [0,"), tg::Error);
  CHECK(slurp(good.out + "/model.safetensors") == before);
}

// Found by a review (session 11); each check fails on the code before its fix.
TEST_CASE("app: metrics with nan/inf, eval's default data set, flags a mode does not use, seeds out of range") {
  Fixture fx;
  // metrics.csv rows holding nan/inf read back (read_metrics_csv used
  // operator>>, which rejects them: a diverged epoch made the run folder
  // unreadable, resume included); a short row is still malformed.
  const std::string csv = fx.dir.file("m.csv");
  tgapp::append_metrics_csv(csv, {1, 2.5, 0.25, std::nan(""), 0.5, 1.0});
  tgapp::append_metrics_csv(csv, {2, 2.0, 0.5, INFINITY, -INFINITY, 2.0});
  const auto rows = tgapp::read_metrics_csv(csv);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].epoch == 1);
  CHECK(rows[0].train_loss == 2.5);
  CHECK(std::isnan(rows[0].test_loss));
  CHECK(rows[1].test_loss == INFINITY);
  CHECK(rows[1].test_acc == -INFINITY);
  CHECK(rows[1].epoch_seconds == 2.0);
  std::ofstream(csv, std::ios::app) << "3,1.0,0.5\n";
  CHECK_THROWS_WITH_AS(tgapp::read_metrics_csv(csv), doctest::Contains("line 4 is malformed: '3,1.0,0.5'"), tg::Error);

  // A missing data set fails before the run folder is made.
  tgapp::RunConfig nd = fx.config("no-data");
  nd.data_root = fx.dir.file("nowhere");
  CHECK_THROWS_AS(tgapp::run_train(nd), tg::Error);
  CHECK_FALSE(fs::exists(nd.out));

  auto parse = [](std::vector<const char*> argv, tgapp::CliArgs& a, std::string& err) {
    argv.insert(argv.begin(), "tapegrad");
    std::ostringstream o, e;
    const int rc = tgapp::parse_cli(int(argv.size()), argv.data(), a, o, e);
    err = e.str();
    return rc;
  };
  tgapp::CliArgs a;
  std::string err;
  // eval without --data: the data set the model was trained on, not fashion-mnist
  REQUIRE(parse({"eval", "--model", "m.safetensors"}, a, err) == -1);
  CHECK(a.cfg.data.empty());
  tgapp::CliArgs a2;
  REQUIRE(parse({"eval", "--model", "m.safetensors", "--data", "mnist-digits"}, a2, err) == -1);
  CHECK(a2.cfg.data == "mnist-digits");
  tgapp::RunConfig t = fx.config("for-eval");
  t.epochs = 1;
  tgapp::run_train(t);
  CHECK(tgapp::run_eval(t.out + "/model.safetensors", "", fx.data, 0) == 0);  // mnist-digits from the metadata

  // a learning rate the fine-tuning mode ignores is an error
  tgapp::CliArgs f1, f2, f3, f4;
  CHECK(parse({"finetune", "--from", "m", "--out", "o", "--lr", "0.1"}, f1, err) == 2);
  CHECK(err.find("finetune --mode full does not use --lr") != std::string::npos);
  CHECK(parse({"finetune", "--mode", "scratch", "--out", "o", "--head-lr", "0.1"}, f2, err) == 2);
  CHECK(err.find("--mode scratch does not use --head-lr") != std::string::npos);
  CHECK(parse({"finetune", "--from", "m", "--mode", "frozen", "--out", "o", "--backbone-lr", "0.1"}, f3, err) == 2);
  CHECK(err.find("--mode frozen does not use --backbone-lr") != std::string::npos);
  CHECK(parse({"finetune", "--from", "m", "--out", "o", "--head-lr", "0.1", "--backbone-lr", "0.01"}, f4, err) == -1);
  CHECK(f4.cfg.backbone_lr == 0.01);

  // --seed: -1 and 2^64 used to become 2^64-1 silently
  for (const char* bad : {"-1", "18446744073709551616", "1.5", "x"}) {
    tgapp::CliArgs s;
    CAPTURE(bad);
    CHECK(parse({"train", "--out", "o", "--seed", bad}, s, err) > 0);
  }
  tgapp::CliArgs s;
  REQUIRE(parse({"train", "--out", "o", "--seed", "18446744073709551615"}, s, err) == -1);
  CHECK(s.cfg.seed == 18446744073709551615ull);

  // a scratch fine-tuning run is recorded as mode=scratch (was "train")
  tgapp::RunConfig sc = fx.config("scratch");
  sc.epochs = 1;
  sc.mode = "scratch";
  tgapp::run_finetune(sc);
  CHECK(tg::load_safetensors(sc.out + "/model.safetensors").metadata.at("mode") == "scratch");
}

TEST_CASE("app: a test loss that overflows stops the run as diverged, before a metrics row or checkpoint") {
  Fixture fx;
  // One SGD step at lr 1e38 leaves finite but huge weights whose test logits overflow.
  tgapp::RunConfig c = fx.config("overflow");
  c.optimizer = "sgd";
  c.lr = 1e38;
  c.limit = 32;  // one step per epoch
  c.epochs = 2;
  CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("training diverged: the test loss is"), tg::Error);
  CHECK_FALSE(fs::exists(c.out + "/model.safetensors"));
  CHECK(tgapp::read_metrics_csv(c.out + "/metrics.csv").empty());
}
