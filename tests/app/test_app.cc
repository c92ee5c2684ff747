// The tapegrad command's train/finetune/eval functions on small fixture data:
// exact resume, the run folder's files, and clear errors that never clobber
// good files.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <cmath>
#include <map>
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
  // the file and the key (was "optimizer state: 'epochs_done' is not ...", misattributed)
  CHECK_THROWS_WITH_AS(tgapp::run_train(e),
                       doctest::Contains("train_state.safetensors': the metadata key 'epochs_done' is not an integer: 'two'"),
                       tg::Error);
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

namespace {
// The files of a run folder a user reads, byte for byte (metrics.csv holds
// wall-clock seconds, so it is compared by rows elsewhere).
std::map<std::string, std::string> run_files(const std::string& out) {
  std::map<std::string, std::string> f;
  for (const char* n : {"model.safetensors", "train_state.safetensors", "curves.svg", "predictions.svg"})
    f[n] = fs::exists(out + "/" + n) ? slurp(out + "/" + n) : std::string("(missing)");
  return f;
}

// metrics rows without the seconds column
std::vector<std::vector<double>> metric_values(const std::string& path) {
  std::vector<std::vector<double>> v;
  for (const auto& r : tgapp::read_metrics_csv(path)) v.push_back({double(r.epoch), r.train_loss, r.train_acc, r.test_loss, r.test_acc});
  return v;
}

void check_same_run(const std::string& got, const std::string& want) {
  const auto a = run_files(got), b = run_files(want);
  for (const auto& [name, bytes] : b) {
    CAPTURE(name);
    CHECK(bytes.size() > 100);
    CHECK(a.at(name) == bytes);
  }
  CHECK(metric_values(got + "/metrics.csv") == metric_values(want + "/metrics.csv"));
}
}  // namespace

// Found by a review (session 12); each check fails on the code before its fix.
TEST_CASE("app: resume after a kill between the last epoch's checkpoint writes gives the uninterrupted run's files") {
  Fixture fx;
  tgapp::RunConfig a = fx.config("straight");
  tgapp::run_train(a);
  // The files of epoch 2 (a run stopped at the start of epoch 3).
  tgapp::RunConfig two = fx.config("two");
  two.stop_after_batches = 14;
  REQUIRE(tgapp::run_train(two).epochs_done == 2);

  // Killed after train_state.safetensors of epoch 3: model.safetensors and
  // curves.svg still those of epoch 2, no predictions.svg. Resume skipped
  // training (epochs_done == --epochs) and left them so.
  tgapp::RunConfig b = fx.config("killed");
  tgapp::run_train(b);
  fs::copy_file(two.out + "/model.safetensors", b.out + "/model.safetensors", fs::copy_options::overwrite_existing);
  fs::copy_file(two.out + "/curves.svg", b.out + "/curves.svg", fs::copy_options::overwrite_existing);
  fs::remove(b.out + "/predictions.svg");
  REQUIRE(slurp(b.out + "/model.safetensors") != slurp(a.out + "/model.safetensors"));
  b.resume = true;
  CHECK(tgapp::run_train(b).epochs_done == 3);
  check_same_run(b.out, a.out);
  CHECK(tg::load_safetensors(b.out + "/model.safetensors").metadata.at("epoch") == "3");

  // --epochs 1, killed after the first train_state.safetensors: no model yet.
  tgapp::RunConfig a1 = fx.config("straight1"), b1 = fx.config("killed1");
  a1.epochs = b1.epochs = 1;
  tgapp::run_train(a1);
  tgapp::run_train(b1);
  for (const char* f : {"model.safetensors", "curves.svg", "predictions.svg"}) fs::remove(b1.out + "/" + f);
  b1.resume = true;
  tgapp::run_train(b1);
  check_same_run(b1.out, a1.out);
}

TEST_CASE("app: --resume refuses other training data, and resumes the same data moved or gzipped") {
  Fixture fx;
  tgapp::RunConfig a = fx.config("straight");
  tgapp::run_train(a);
  tgapp::RunConfig b = fx.config("moved");
  b.stop_after_batches = 10;
  tgapp::run_train(b);
  const std::string state = slurp(b.out + "/train_state.safetensors");
  const std::string fp = tg::load_safetensors(b.out + "/train_state.safetensors").metadata.at("data_fingerprint");
  CHECK(fp.rfind("n=200 fnv1a64=", 0) == 0);
  CHECK(fp.size() == std::string("n=200 fnv1a64=").size() + 16);

  // The same 200 images and labels with one pixel of image 5 changed.
  const std::string other = fx.dir.file("other");
  fs::create_directories(other);
  tg_test::write_mnist_fixture(other, "train", 200);
  tg_test::write_mnist_fixture(other, "t10k", 50);
  auto img = tg_test::read_bytes(other + "/train-images-idx3-ubyte");
  img[16 + 5 * 784 + 300] ^= 1;
  tg_test::write_bytes(other + "/train-images-idx3-ubyte", img);
  b.stop_after_batches = -1;
  b.resume = true;
  b.data_root = other;
  CHECK_THROWS_WITH_AS(tgapp::run_train(b), doctest::Contains("was trained on other data: its checkpoint"), tg::Error);
  try {
    tgapp::run_train(b);
  } catch (const tg::Error& e) {
    const std::string m = e.what();
    CHECK(m.find(fp) != std::string::npos);             // the run's
    CHECK(m.find("'" + other + "'") != std::string::npos);  // and the folder given now
    CHECK(m.find("n=200 fnv1a64=") != m.rfind("n=200 fnv1a64="));  // both fingerprints
  }
  CHECK(slurp(b.out + "/train_state.safetensors") == state);
  // Other labels: refused too.
  tg_test::write_mnist_fixture(other, "train", 200);
  auto lab = tg_test::read_bytes(other + "/train-labels-idx1-ubyte");
  lab[8 + 17] = uint8_t((lab[8 + 17] + 1) % 10);
  tg_test::write_bytes(other + "/train-labels-idx1-ubyte", lab);
  CHECK_THROWS_WITH_AS(tgapp::run_train(b), doctest::Contains("was trained on other data"), tg::Error);

  // The same files gzipped, with '.' names, in another folder: resumes, bit-exact.
  const std::string gz = fx.dir.file("gz");
  fs::create_directories(gz);
  tg_test::write_mnist_fixture(gz, "train", 200, ".", true);
  tg_test::write_mnist_fixture(gz, "t10k", 50, ".", true);
  b.data_root = gz;
  tgapp::run_train(b);
  check_same_run(b.out, a.out);
  // --limit: the fingerprint covers the examples used, in order.
  auto full = tgapp::open_dataset("mnist-digits", fx.data, tg::data::Split::Train);
  tgapp::RunConfig c = fx.config("limit");
  c.limit = 20;
  const std::string f_first = tgapp::data_fingerprint(*full, *tgapp::training_examples(c, full));
  c.sample = "random";
  const std::string f_random = tgapp::data_fingerprint(*full, *tgapp::training_examples(c, full));
  CHECK(f_first.rfind("n=20 ", 0) == 0);
  CHECK(f_random.rfind("n=20 ", 0) == 0);
  CHECK(f_first != f_random);
  CHECK(f_random == tgapp::data_fingerprint(*full, *tgapp::training_examples(c, full)));
  // A checkpoint of an older tapegrad, without a fingerprint: resumes (a note says it cannot check).
  tgapp::RunConfig o = fx.config("older");
  o.stop_after_batches = 10;
  tgapp::run_train(o);
  tg::SafetensorsFile st = tg::load_safetensors(o.out + "/train_state.safetensors");
  REQUIRE(st.metadata.erase("data_fingerprint") == 1);
  tg::save_safetensors(o.out + "/train_state.safetensors", st.tensors, st.metadata);
  o.stop_after_batches = -1;
  o.resume = true;
  CHECK(tgapp::run_train(o).epochs_done == 3);
  CHECK(slurp(o.out + "/model.safetensors") == slurp(a.out + "/model.safetensors"));
}

TEST_CASE("app: --resume rewrites metrics.csv atomically, keeping its rows up to the checkpoint") {
  Fixture fx;
  tgapp::RunConfig a = fx.config("straight");
  tgapp::run_train(a);
  tgapp::RunConfig b = fx.config("killed");
  b.stop_after_batches = 10;  // epoch 1 checkpointed
  tgapp::run_train(b);
  const std::string csv = b.out + "/metrics.csv";
  // A row of epoch 2 written before a kill (after the checkpoint): resume drops it.
  std::ofstream(csv, std::ios::app) << "2,0.5,0.5,0.5,0.5,1\n";
  const std::string before = slurp(csv);
  const std::string row1 = before.substr(0, before.find("\n2,") + 1);
  b.stop_after_batches = -1;
  b.resume = true;
  // A kill just before the rewrite's rename: metrics.csv is as it was (the
  // old code deleted it and re-appended the rows one by one).
  tgapp::testing::fail_next_atomic_write("/metrics.csv");
  CHECK_THROWS_WITH_AS(tgapp::run_train(b), doctest::Contains("injected failure before renaming"), tg::Error);
  tgapp::testing::fail_next_atomic_write("");
  CHECK(slurp(csv) == before);
  tgapp::run_train(b);
  const std::string after = slurp(csv);
  CHECK(after.rfind(row1, 0) == 0);  // the epoch-1 row byte for byte, seconds included
  CHECK(after.find("2,0.5,0.5,0.5,0.5,1\n") == std::string::npos);
  CHECK(metric_values(csv) == metric_values(a.out + "/metrics.csv"));
  CHECK(metric_values(csv).size() == 3);
  // metrics_csv_text writes what append_metrics_csv appends
  const std::string p = fx.dir.file("m.csv");
  const std::vector<tgapp::EpochMetrics> rows = {{1, 2.5, 0.25, 1.0 / 3, 0.5, 1.25}, {2, 2.0, 0.5, INFINITY, 0.75, 2.0}};
  for (const auto& r : rows) tgapp::append_metrics_csv(p, r);
  CHECK(tgapp::metrics_csv_text(rows) == slurp(p));
  CHECK(tgapp::metrics_csv_text(rows) ==
        "epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds\n1,2.5,0.25,0.333333333,0.5,1.25\n2,2,0.5,inf,0.75,2\n");
}

TEST_CASE("app: a run into a folder holding an earlier run leaves it untouched until its own first checkpoint") {
  Fixture fx;
  tgapp::RunConfig old = fx.config("run");
  old.epochs = 2;
  tgapp::run_train(old);
  const auto files = run_files(old.out);
  const std::string metrics = slurp(old.out + "/metrics.csv");
  // A new run (another seed: the user forgot --resume) killed in its epoch 1.
  tgapp::RunConfig fresh = old;
  fresh.seed = 6;
  fresh.stop_after_batches = 5;
  CHECK(tgapp::run_train(fresh).epochs_done == 0);
  CHECK(run_files(old.out) == files);
  CHECK(slurp(old.out + "/metrics.csv") == metrics);  // was deleted at the start
  // The earlier run is whole: --resume accepts it and changes nothing.
  tgapp::RunConfig res = old;
  res.resume = true;
  CHECK(tgapp::run_train(res).epochs_done == 2);
  CHECK(run_files(old.out) == files);
  CHECK(slurp(old.out + "/metrics.csv") == metrics);
  // Run to its end, the new run replaces every file.
  fresh.stop_after_batches = -1;
  tgapp::run_train(fresh);
  tgapp::RunConfig ref = fx.config("ref");
  ref.epochs = 2;
  ref.seed = 6;
  tgapp::run_train(ref);
  check_same_run(fresh.out, ref.out);
  CHECK(tg::load_safetensors(fresh.out + "/train_state.safetensors").metadata.at("seed") == "6");
  CHECK(tgapp::read_metrics_csv(fresh.out + "/metrics.csv").size() == 2);
  // --help says so.
  tgapp::CliArgs h;
  std::ostringstream o, e;
  const char* argv[] = {"tapegrad", "train", "--help"};
  CHECK(tgapp::parse_cli(3, argv, h, o, e) == 0);
  CHECK(o.str().find("an earlier run in it is replaced, its files left untouched until this run's first epoch ends") !=
        std::string::npos);
}

TEST_CASE("app: resume's small errors: a cut or later metrics row, a missing header, raw bytes, --lr inf, NaN in the state") {
  Fixture fx;
  tgapp::RunConfig a = fx.config("straight");
  tgapp::run_train(a);
  tgapp::RunConfig base = fx.config("base");
  base.stop_after_batches = 10;  // epoch 1 checkpointed
  tgapp::run_train(base);
  int n = 0;
  // A fresh copy of the killed run folder.
  const auto copy = [&] {
    tgapp::RunConfig c = base;
    c.out = fx.out + "/copy" + std::to_string(n++);
    fs::copy(base.out, c.out, fs::copy_options::recursive);
    c.stop_after_batches = -1;
    c.resume = true;
    return c;
  };
  // (b) a row for an epoch after the checkpoint cut short (no newline), or
  // malformed: dropped, not "line 3 is malformed"
  for (const char* tail : {"2,0.9961", "2,0.99,x\n", "2,0.9961\n3,0.5"}) {
    CAPTURE(tail);
    tgapp::RunConfig c = copy();
    std::ofstream(c.out + "/metrics.csv", std::ios::app) << tail;
    CHECK(tgapp::run_train(c).epochs_done == 3);
    CHECK(metric_values(c.out + "/metrics.csv") == metric_values(a.out + "/metrics.csv"));
    CHECK(slurp(c.out + "/model.safetensors") == slurp(a.out + "/model.safetensors"));
  }
  // A whole last row without its newline (an editor dropped it) is kept: it
  // was dropped as a cut-short write, and resume then found no row for epoch 1
  {
    tgapp::RunConfig c = copy();
    std::string m = slurp(c.out + "/metrics.csv");
    REQUIRE(m.back() == '\n');
    m.pop_back();
    std::ofstream(c.out + "/metrics.csv", std::ios::trunc) << m;
    CHECK(tgapp::run_train(c).epochs_done == 3);
    CHECK(metric_values(c.out + "/metrics.csv") == metric_values(a.out + "/metrics.csv"));
  }
  // ... but a malformed row of an epoch the checkpoint covers is an error,
  // and so is a metrics.csv that lacks one
  {
    tgapp::RunConfig c = copy();
    std::string m = slurp(c.out + "/metrics.csv");
    m = m.substr(0, m.find("\n1,") + 1) + "1,0.5,zz,1,1,1\n";
    std::ofstream(c.out + "/metrics.csv", std::ios::trunc) << m;
    CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("metrics.csv line 2 is malformed: '1,0.5,zz,1,1,1'"), tg::Error);
    fs::remove(c.out + "/metrics.csv");
    CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("metrics.csv does not match"), tg::Error);
    CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("it has no row for epoch 1"), tg::Error);
  }
  // (c) line 1 must be the header: a header-less file silently lost epoch 1
  {
    tgapp::RunConfig c = copy();
    std::string m = slurp(c.out + "/metrics.csv");
    std::ofstream(c.out + "/metrics.csv", std::ios::trunc) << m.substr(m.find('\n') + 1);
    CHECK_THROWS_WITH_AS(tgapp::run_train(c),
                         doctest::Contains("metrics.csv line 1 is not the header 'epoch,train_loss,train_acc,test_loss,"
                                           "test_acc,epoch_seconds': '1,"),
                         tg::Error);
  }
  // (d) raw bytes in a malformed line: escaped, and cut at 80 characters
  {
    const std::string p = fx.dir.file("bin.csv");
    std::ofstream(p) << tgapp::kMetricsHeader << "\n\x1b[31mRED\x1b[0m,1,1,1,1,1\n";
    CHECK_THROWS_WITH_AS(tgapp::read_metrics_csv(p), doctest::Contains("line 2 is malformed: '\\x1b[31mRED\\x1b[0m,1,1,1,1,1'"),
                         tg::Error);
    std::ofstream(p, std::ios::trunc) << tgapp::kMetricsHeader << "\n1,2,3,4,5,6" << std::string(500, 'x') << "\n";
    try {
      tgapp::read_metrics_csv(p);
      FAIL("no error");
    } catch (const tg::Error& e) {
      const std::string m = e.what();
      CHECK(m.find("'1,2,3,4,5,6" + std::string(69, 'x') + "... (511 bytes)'") != std::string::npos);
      CHECK(m.size() < 200);
    }
    CHECK(tgapp::printable("a\\b\tc\xff") == "a\\\\b\\x09c\\xff");
  }
  // (e) --lr inf: a readable message (was CLI11's 300-digit number)
  for (const char* bad : {"inf", "1e999", "nan", "-inf"}) {
    CAPTURE(bad);
    tgapp::CliArgs args;
    std::ostringstream o, e;
    std::vector<const char*> argv = {"tapegrad", "train", "--out", "o", "--lr", bad};
    CHECK(tgapp::parse_cli(int(argv.size()), argv.data(), args, o, e) > 0);
    CHECK(e.str().find(std::string("not a finite number: '") + bad + "'") != std::string::npos);
    CHECK(e.str().size() < 300);
    tgapp::CliArgs f;
    std::ostringstream o2, e2;
    std::vector<const char*> fargv = {"tapegrad", "finetune", "--from", "m", "--out", "o", "--head-lr", bad};
    CHECK(tgapp::parse_cli(int(fargv.size()), fargv.data(), f, o2, e2) > 0);
    CHECK(e2.str().find(std::string("not a finite number: '") + bad + "'") != std::string::npos);
  }
  {
    tgapp::CliArgs args;
    std::ostringstream o, e;
    std::vector<const char*> argv = {"tapegrad", "train", "--out", "o", "--lr", "0"};
    CHECK(tgapp::parse_cli(int(argv.size()), argv.data(), args, o, e) > 0);
    CHECK(e.str().find("must be > 0, got '0'") != std::string::npos);
    tgapp::CliArgs ok;
    std::vector<const char*> good = {"tapegrad", "train", "--out", "o", "--lr", "2.5e-4"};
    CHECK(tgapp::parse_cli(int(good.size()), good.data(), ok, o, e) == -1);
    CHECK(ok.cfg.lr == 2.5e-4);
    tgapp::RunConfig c = fx.config("inf");
    c.lr = INFINITY;
    CHECK_THROWS_WITH_AS(tgapp::run_train(c), doctest::Contains("--lr must be a finite number > 0, got inf"), tg::Error);
  }
  // the whole-number options too: "Value 0 not in range 0.000000 to 1797..." (300 digits)
  for (const auto& [flag, bad, want] : {std::tuple{"--epochs", "0", "must be >= 1, got 0"},
                                        std::tuple{"--batch-size", "0", "must be >= 1, got 0"},
                                        std::tuple{"--limit", "-1", "must be >= 0, got -1"},
                                        std::tuple{"--threads", "-1", "must be >= 0, got -1"},
                                        std::tuple{"--epochs", "2.5", "not a whole number: '2.5'"}}) {
    CAPTURE(flag);
    tgapp::CliArgs args;
    std::ostringstream o, e;
    std::vector<const char*> argv = {"tapegrad", "train", "--out", "o", flag, bad};
    CHECK(tgapp::parse_cli(int(argv.size()), argv.data(), args, o, e) > 0);
    CHECK(e.str().find(want) != std::string::npos);
    CHECK(e.str().size() < 300);
  }
  // (f) NaN in the optimizer moments: a damaged checkpoint, named, not "training diverged"
  for (const char* key : {"optim.state.0.exp_avg", "model.2.bias"}) {
    CAPTURE(key);
    tgapp::RunConfig c = copy();
    const std::string state = c.out + "/train_state.safetensors";
    tg::SafetensorsFile st = tg::load_safetensors(state);
    st.tensors.at(key).data_ptr<float>()[3] = std::nanf("");
    tg::save_safetensors(state, st.tensors, st.metadata);
    const std::string model = slurp(c.out + "/model.safetensors");
    CHECK_THROWS_WITH_AS(tgapp::run_train(c),
                         doctest::Contains(("train_state.safetensors' is damaged: tensor '" + std::string(key) +
                                            "' holds NaN or Inf").c_str()),
                         tg::Error);
    CHECK(slurp(c.out + "/model.safetensors") == model);
  }
}

TEST_CASE("app: a run removes the checkpoint temporaries a killed save left in its folder") {
  // named <file>.tmp.<pid>.<n>, no later save reuses them: they piled up
  Fixture fx;
  tgapp::RunConfig c = fx.config("tmp");
  fs::create_directories(c.out);
  for (const char* n : {"train_state.safetensors.tmp.8744.4", "model.safetensors.tmp.8744.5", "notes.tmp.1"})
    std::ofstream(c.out + "/" + n) << "partial";
  c.epochs = 1;
  tgapp::run_train(c);
  CHECK(!fs::exists(c.out + "/train_state.safetensors.tmp.8744.4"));
  CHECK(!fs::exists(c.out + "/model.safetensors.tmp.8744.5"));
  CHECK(fs::exists(c.out + "/notes.tmp.1"));  // not ours: kept
  CHECK(fs::exists(c.out + "/model.safetensors"));
}
