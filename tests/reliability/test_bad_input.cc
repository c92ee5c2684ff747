// Bad input across the public API: every row of the table is a misuse that
// must throw tg::Error (nothing else: no crash, no other exception, no hang)
// whose message contains the listed substrings (the op and the offending
// values, so the user can act on it). The ASan suite runs this file with
// detect_leaks=1, so an error path that leaks fails there.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../data/fixtures.h"
#include "tapegrad/tapegrad.h"

namespace {

namespace F = tg::F;
namespace nn = tg::nn;
using tg::Tensor;

struct BadInput {
  const char* what;
  std::function<void()> run;
  std::vector<std::string> expect;  // substrings of the message
};

Tensor randn(const tg::Shape& s) {
  tg::Generator g(1);
  return tg::randn(s, g);
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<BadInput> table(const tg_test::TempDir& dir) {
  std::vector<BadInput> t;
  // ---- shapes, every op family
  t.push_back({"add: shapes that do not broadcast", [] { tg::add(randn({2, 3}), randn({4})); }, {"add", "[2,3]", "[4]", "broadcast"}});
  t.push_back({"mul: shapes that do not broadcast", [] { tg::mul(randn({2, 3}), randn({3, 2})); }, {"mul", "broadcast"}});
  t.push_back({"where: condition shape", [] { tg::where(tg::gt(randn({2, 2}), 0.0), randn({3}), randn({2, 2})); }, {"where"}});
  t.push_back({"matmul: inner dims differ", [] { tg::matmul(randn({2, 3}), randn({4, 5})); }, {"matmul", "3", "4"}});
  t.push_back({"linear: weight in-features differ", [] { tg::linear(randn({8, 5}), randn({3, 4})); }, {"linear", "5", "4"}});
  t.push_back({"Linear layer: wrong input width",
               [] { nn::Linear l(784, 10); l.forward(randn({2, 100})); }, {"784", "100"}});
  t.push_back({"conv2d: channel mismatch",
               [] { F::conv2d(randn({1, 3, 8, 8}), randn({4, 2, 3, 3})); }, {"conv2d", "3", "2"}});
  t.push_back({"conv2d: 3-D input", [] { F::conv2d(randn({3, 8, 8}), randn({4, 3, 3, 3})); }, {"conv2d", "4-D"}});
  t.push_back({"conv2d: kernel larger than padded input",
               [] { F::conv2d(randn({1, 1, 2, 2}), randn({1, 1, 5, 5})); }, {"conv2d", "5"}});
  // Both found by this table: a kernel larger than the input with a large stride
  // passed the size check (truncating division gave one output position).
  t.push_back({"conv2d: kernel larger than input, stride 4",
               [] { F::conv2d(randn({1, 1, 2, 2}), randn({1, 1, 5, 5}), Tensor(), {.stride = 4}); },
               {"conv2d", "too small"}});
  t.push_back({"max_pool2d: kernel larger than input",
               [] { F::max_pool2d(randn({1, 1, 2, 2}), {.kernel = 3}); }, {"max_pool2d", "too small", "3"}});
  t.push_back({"sum: dim out of range", [] { tg::sum(randn({2, 3}), {2}); }, {"sum", "2"}});
  t.push_back({"softmax: dim out of range", [] { tg::softmax(randn({2, 3}), 5); }, {"softmax", "5"}});
  t.push_back({"reshape: element count differs", [] { tg::reshape(randn({2, 3}), {4, 2}); }, {"reshape", "[4,2]", "6"}});
  t.push_back({"reshape: two -1", [] { tg::reshape(randn({2, 3}), {-1, -1}); }, {"reshape", "-1"}});
  t.push_back({"transpose: dim out of range", [] { tg::transpose(randn({2, 3}), 0, 2); }, {"transpose", "2"}});
  t.push_back({"permute: not a permutation", [] { tg::permute(randn({2, 3}), {0, 0}); }, {"permute"}});
  t.push_back({"expand: non-singleton dim", [] { tg::expand(randn({2, 3}), {4, 3}); }, {"expand", "[2,3]", "[4,3]"}});
  t.push_back({"cat: sizes differ off the cat dim", [] { tg::cat({randn({2, 3}), randn({2, 4})}, 0); }, {"cat", "3", "4"}});
  t.push_back({"cat: empty list", [] { tg::cat({}, 0); }, {"cat"}});
  t.push_back({"stack: shapes differ", [] { tg::stack({randn({2}), randn({3})}); }, {"stack"}});
  t.push_back({"mse_loss: input and target shapes", [] { F::mse_loss(randn({4, 2}), randn({4, 3})); }, {"mse_loss"}});
  t.push_back({"cross_entropy: target batch size",
               [] { F::cross_entropy(randn({4, 10}), tg::tensor(std::vector<int64_t>{1, 2, 3})); }, {"cross_entropy", "4", "3"}});
  t.push_back({"batch_norm: running stats size",
               [] { F::batch_norm(randn({4, 3}), tg::zeros({5}), tg::ones({5}), Tensor(), Tensor(), false); },
               {"batch_norm", "3", "5"}});
  // ---- dtypes
  t.push_back({"cross_entropy: float targets",
               [] { F::cross_entropy(randn({2, 10}), randn({2})); }, {"cross_entropy", "int64"}});
  t.push_back({"index_select: float index",
               [] { tg::index_select(randn({4, 2}), 0, randn({2})); }, {"index_select", "int64"}});
  t.push_back({"matmul: int64 operands", [] { tg::matmul(tg::ones({2, 2}, {.dtype = tg::kInt64}), randn({2, 2})); },
               {"matmul"}});
  t.push_back({"save_safetensors: undefined tensor",
               [&dir] { tg::save_safetensors(dir.file("u.safetensors"), {{"w", Tensor()}}); }, {"undefined", "w"}});
  // ---- empty tensors, negative and zero sizes
  t.push_back({"max: empty tensor", [] { tg::max(tg::zeros({0})); }, {"max", "empty tensor (shape [0])"}});
  t.push_back({"argmax: empty dim", [] { tg::argmax(tg::zeros({0, 3}), 0); }, {"argmax", "size 0"}});
  t.push_back({"zeros: negative size", [] { tg::zeros({2, -3}); }, {"-3"}});
  t.push_back({"Linear: zero in-features", [] { nn::Linear l(0, 4); }, {"Linear", "in"}});
  t.push_back({"Conv2d: zero kernel", [] { nn::Conv2d c({.in = 1, .out = 2, .kernel = 0}); }, {"Conv2d", "kernel"}});
  t.push_back({"DataLoader: batch size 0",
               [] {
                 auto ds = std::make_shared<tg::data::TensorDataset>(randn({4, 2}), tg::zeros({4}, {.dtype = tg::kInt64}));
                 tg::data::DataLoader l(ds, {.batch_size = 0});
               },
               {"batch_size", "0"}});
  // ---- NaN and out-of-range options
  t.push_back({"Adam: NaN learning rate",
               [] { auto w = randn({2}).requires_grad_(); tg::optim::Adam a({w}, {.lr = kNaN}); }, {"lr", "nan"}});
  t.push_back({"SGD: negative learning rate",
               [] { auto w = randn({2}).requires_grad_(); tg::optim::SGD s({w}, {.lr = -1}); }, {"lr", "-1"}});
  t.push_back({"dropout: p = NaN", [] { F::dropout(randn({4}), kNaN, true); }, {"dropout", "nan"}});
  t.push_back({"cross_entropy: label_smoothing 2",
               [] { F::cross_entropy(randn({2, 3}), tg::tensor(std::vector<int64_t>{0, 1}), {.label_smoothing = 2}); },
               {"label_smoothing", "2"}});
  t.push_back({"clip_grad_norm_: NaN gradient with error_if_nonfinite",
               [] {
                 auto w = tg::ones({3}).requires_grad_();
                 tg::mul(tg::sum(w), kNaN).backward();
                 tg::nn::utils::clip_grad_norm_({w}, 1.0, 2.0, true);
               },
               {"clip_grad_norm_", "nan", "error_if_nonfinite"}});
  // ---- out-of-range indices and class labels
  t.push_back({"cross_entropy: label 10 of 10 classes",
               [] { F::cross_entropy(randn({2, 10}), tg::tensor(std::vector<int64_t>{3, 10})); },
               {"cross_entropy", "target 10", "10 classes"}});
  t.push_back({"cross_entropy: negative label",
               [] { F::cross_entropy(randn({2, 10}), tg::tensor(std::vector<int64_t>{-1, 2})); }, {"cross_entropy", "-1"}});
  t.push_back({"nll_loss: label 5 of 5 classes",
               [] { F::nll_loss(randn({1, 5}), tg::tensor(std::vector<int64_t>{5})); }, {"nll_loss", "5"}});
  t.push_back({"index_select: index 4 of size 4",
               [] { tg::index_select(randn({4, 2}), 0, tg::tensor(std::vector<int64_t>{0, 4})); }, {"index_select", "4"}});
  t.push_back({"gather: index out of range",
               [] { tg::gather(randn({2, 3}), 1, tg::tensor(std::vector<int64_t>{0, 3}, {2, 1})); }, {"gather", "3"}});
  t.push_back({"embedding: token id out of range",
               [] { F::embedding(tg::tensor(std::vector<int64_t>{7}), randn({5, 2})); }, {"embedding", "7"}});
  t.push_back({"one_hot: class 3 of 3", [] { tg::one_hot(tg::tensor(std::vector<int64_t>{3}), 3); }, {"one_hot", "3"}});
  t.push_back({"Tensor::item on 2 elements", [] { randn({2}).item<float>(); }, {"item", "2"}});
  // ---- checkpoints and files
  t.push_back({"load: checkpoint of another architecture",
               [&dir] {
                 nn::Linear a(4, 3), b(5, 3);
                 tg::save(a, dir.file("lin.safetensors"));
                 tg::load(b, dir.file("lin.safetensors"));
               },
               {"lin.safetensors", "weight", "[3,4]", "[3,5]"}});
  t.push_back({"load: missing keys in strict mode",
               [&dir] {
                 tg::save_safetensors(dir.file("partial.safetensors"), {{"weight", tg::zeros({3, 4})}});
                 nn::Linear b(4, 3);
                 tg::load(b, dir.file("partial.safetensors"));
               },
               {"partial.safetensors", "bias"}});
  t.push_back({"load_safetensors: file does not exist",
               [&dir] { tg::load_safetensors(dir.file("nope.safetensors")); }, {"nope.safetensors", "cannot open"}});
  t.push_back({"load_safetensors: truncated file",
               [&dir] {
                 tg::save_safetensors(dir.file("t.safetensors"), {{"w", tg::zeros({16})}});
                 auto b = tg_test::read_bytes(dir.file("t.safetensors"));
                 b.resize(b.size() - 10);
                 tg_test::write_bytes(dir.file("t.safetensors"), b);
                 tg::load_safetensors(dir.file("t.safetensors"));
               },
               {"t.safetensors", "'w'", "past the end"}});
  t.push_back({"load_safetensors: garbage bytes",
               [&dir] {
                 tg_test::write_bytes(dir.file("g.safetensors"), std::vector<uint8_t>(64, 0xAB));
                 tg::load_safetensors(dir.file("g.safetensors"));
               },
               {"g.safetensors", "header length"}});
  t.push_back({"read_idx: corrupt gzip",
               [&dir] {
                 tg_test::write_bytes(dir.file("c.idx.gz"), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5});
                 tg::data::read_idx(dir.file("c.idx.gz"));
               },
               {"c.idx.gz", "gzip"}});
  t.push_back({"read_idx: truncated images",
               [&dir] {
                 tg_test::write_bytes(dir.file("t.idx"), {0, 0, 8, 1, 0, 0, 0, 9, 1, 2});
                 tg::data::read_idx(dir.file("t.idx"));
               },
               {"t.idx", "truncated", "9"}});
  // Found by tests/fuzz (regressions): a JSON number too large for a double
  // escaped as nlohmann::out_of_range; IDX dims [0, 2^31-ish, ...] overflowed
  // int64 in IdxArray::numel() (a zero dim hid the overflow from the size check).
  t.push_back({"load_safetensors: number overflow in the header",
               [&dir] {
                 const std::string h = "{\"a\":3333e333333333333333}";
                 std::vector<uint8_t> b(8, 0);
                 b[0] = uint8_t(h.size());
                 b.insert(b.end(), h.begin(), h.end());
                 tg_test::write_bytes(dir.file("big.safetensors"), b);
                 tg::load_safetensors(dir.file("big.safetensors"));
               },
               {"big.safetensors", "not valid JSON", "overflow"}});
  t.push_back({"parse_idx: zero dim next to dims whose product overflows",
               [] {
                 const std::vector<uint8_t> b = {0, 0, 0x0d, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
                 tg::data::parse_idx(b, "zero-dim.idx");
               },
               {"zero-dim.idx", "too large", "[0,4294967295,4294967295]"}});
  t.push_back({"MNIST: folder without the files",
               [&dir] { tg::data::MNIST m(dir.file("empty-folder"), tg::data::Split::Train); }, {"empty-folder"}});
  t.push_back({"Adam::load_state_dict: state of another model",
               [] {
                 auto w = randn({2}).requires_grad_();
                 tg::optim::Adam a({w});
                 tg::sum(w).backward();
                 a.step();
                 auto st = a.state_dict();
                 auto v = randn({3}).requires_grad_();
                 tg::optim::Adam b({v});
                 b.load_state_dict(st);
               },
               {"[2]", "[3]"}});
  return t;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST_CASE("reliability: bad input gives a tg::Error with an actionable message") {
  tg_test::TempDir dir;
  const auto cases = table(dir);
  CHECK(cases.size() >= 30);
  int ok = 0;
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    try {
      c.run();
      FAIL_CHECK("no error for: ", c.what);
    } catch (const tg::Error& e) {
      const std::string msg = e.what();
      CAPTURE(msg);
      bool all = true;
      for (const auto& s : c.expect) {
        CHECK_MESSAGE(contains(msg, s), "missing '", s, "'");
        all = all && contains(msg, s);
      }
      ok += all;
    } catch (const std::exception& e) {
      FAIL_CHECK("not a tg::Error: ", e.what());
    }
  }
  MESSAGE(ok, " of ", cases.size(), " bad inputs rejected with the expected message");
}
