// Edge cases found by the session-14 user-journey review, each against the
// value or error PyTorch 1.13 / LibTorch gives: zero_grad(set_to_none =
// false) after a create_graph backward, Module::to() and the version counter,
// linspace with one step, assignment into a temporary (x[0] = t), and fill
// values the dtype cannot hold.
#include <cmath>
#include <sstream>
#include <limits>

#include "../common/test_util.h"
#include "autograd/autograd.h"
#include "autograd/function.h"
#include "autograd/node.h"
#include "nn/layers.h"
#include "optim/sgd.h"

using tg::Tensor;

TEST_CASE("zero_grad(false) after a create_graph backward: the same gradient detached and zeroed, no chained graph, no leak") {
  // f = (w.x)^3 + sum(w^3); g = df/dw (recorded); w.grad = g + d(g.g)/dw.
  // By hand at w = [0.5, -1], x = [1, 2]: g = [7.5, 16.5], H = [[-6, -18],
  // [-18, -42]], 2Hg = [-684, -1656]: w.grad = [-676.5, -1639.5] at every
  // step (lr 0), as PyTorch 1.13 gives. Zeroed in place, the gradient kept its
  // graph: step 2 threw "backward through the graph a second time" and nodes
  // piled up.
  const int64_t before = tg::autograd::Node::live_count();
  {
    Tensor w = tg::tensor({0.5, -1.0}, {}, true), x = tg::tensor({1.0, 2.0});
    tg::optim::SGD opt({w}, {.lr = 0.0});
    for (int s = 0; s < 3; ++s) {
      CAPTURE(s);
      opt.zero_grad(false);
      ((w * x).sum().pow(3.0) + (w * w * w).sum()).backward({}, false, true);
      (w.grad() * w.grad()).sum().backward();
      opt.step();
      CHECK(w.grad().to_vector<double>() == std::vector<double>{-676.5, -1639.5});
    }
    // Module::zero_grad does the same
    tg::nn::Linear lin(tg::nn::LinearOptions{.in = 2, .out = 1});
    for (int s = 0; s < 3; ++s) {
      lin.zero_grad(false);
      tg::Tensor y = lin.forward(tg::ones({1, 2})).pow(2.0).sum();
      y.backward({}, false, true);
      CHECK(lin.weight.grad().requires_grad());
    }
    const int64_t during = tg::autograd::Node::live_count();
    // The same tensor is detached and zeroed (PyTorch's detach_() + zero_()):
    // a handle to the old gradient sees the zeros.
    const Tensor old_grad = lin.weight.grad();
    lin.zero_grad(false);
    CHECK(lin.weight.grad().is_same(old_grad));
    CHECK(!old_grad.requires_grad());
    CHECK(old_grad.is_leaf());
    CHECK(lin.weight.grad().to_vector<double>() == std::vector<double>{0, 0});
    CHECK(tg::autograd::Node::live_count() < during);
    w.set_grad(Tensor());
  }
  CHECK(tg::autograd::Node::live_count() == before);
  // Only the gradient's link to a graph goes: a gradient that is itself a
  // leaf with a .grad keeps that .grad (PyTorch's requires_grad_(False)).
  Tensor v = tg::tensor({1.0, 1.0}, {}, true), w = tg::tensor({0.0, 0.0}, {}, true);
  (v * 2.0).sum().backward();
  w.set_grad(v);
  tg::autograd::zero_grad(w, false);
  CHECK(w.grad().is_same(v));
  CHECK(!v.requires_grad());
  CHECK(v.to_vector<double>() == std::vector<double>{0, 0});
  CHECK(v.grad().to_vector<double>() == std::vector<double>{2, 2});
}

TEST_CASE("Module::to() keeps the version count: a weight changed after the forward is still caught") {
  // to() gave the parameter a new storage at version 0, bumped once: a
  // backward then saw "version 1 -> 1" after a load between two to() calls and
  // used the loaded weights silently (or failed on a dtype mismatch).
  tg::nn::Linear lin(tg::nn::LinearOptions{.in = 3, .out = 2});
  Tensor x = tg::ones({1, 3}, {.requires_grad = true});
  Tensor loss = lin.forward(x).sum();
  const uint32_t v0 = lin.weight.version();
  lin.to(tg::kFloat64);
  CHECK(lin.weight.version() > v0);
  lin.to(tg::kFloat32);
  CHECK(lin.weight.version() > v0 + 1);
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("modified by an in-place operation"), tg::Error);
}

TEST_CASE("linspace with one step is start (it was end), as PyTorch") {
  CHECK(tg::linspace(0, 1, 1, {.dtype = tg::kFloat64}).to_vector<double>() == std::vector<double>{0});
  CHECK(tg::linspace(3, 1, 1, {.dtype = tg::kFloat64}).to_vector<double>() == std::vector<double>{3});
  CHECK(tg::linspace(0, 1, 2, {.dtype = tg::kFloat64}).to_vector<double>() == std::vector<double>{0, 1});
  CHECK(tg::linspace(0, 1, 0).numel() == 0);
}

TEST_CASE("assigning into a temporary writes into it, as LibTorch (x[0] = t did nothing)") {
  Tensor x = tg::zeros({3}, {.dtype = tg::kFloat64});
  x[0] = tg::scalar_tensor(5.0, tg::kFloat64);
  x[2] = 7.0;
  CHECK(x.to_vector<double>() == std::vector<double>{5, 0, 7});
  Tensor m = tg::zeros({2, 2});
  m.select(1, 0) = tg::ones({2});          // a column
  m[1] = tg::tensor({9.0}).to(tg::kFloat32);  // broadcast
  CHECK(m.to_vector<double>() == std::vector<double>{1, 0, 9, 9});
  // a named tensor is rebound, not written
  Tensor y = x;
  y = tg::ones({3}, {.dtype = tg::kFloat64});
  CHECK(x.to_vector<double>() == std::vector<double>{5, 0, 7});
  // the in-place rules hold: a view of a tensor that requires grad is refused
  Tensor p = tg::zeros({2}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(p[0] = 1.0, doctest::Contains("in-place operation on a tensor that requires grad"), tg::Error);
}

TEST_CASE("fill values the dtype cannot hold are an error (int64 from NaN gave INT64_MIN), as PyTorch") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(tg::full({2}, nan, {.dtype = tg::kInt64}),
                       "fill: the value nan cannot be converted to int64 without overflow", tg::Error);
  CHECK_THROWS_WITH_AS(tg::full({2}, 1e30, {.dtype = tg::kInt64}), doctest::Contains("cannot be converted to int64"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::scalar_tensor(9.3e18, tg::kInt64), doctest::Contains("cannot be converted to int64"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::full({1}, 1e300), doctest::Contains("cannot be converted to float32"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::zeros({2}, {.dtype = tg::kInt64}).fill_(-nan), doctest::Contains("cannot be converted"),
                       tg::Error);
  // what fits is kept: truncation toward zero, the int64 ends, inf/nan in float
  CHECK(tg::full({1}, 2.5, {.dtype = tg::kInt64}).item<int64_t>() == 2);
  CHECK(tg::full({1}, -2.5, {.dtype = tg::kInt64}).item<int64_t>() == -2);
  CHECK(tg::full({1}, -0x1p63, {.dtype = tg::kInt64}).item<int64_t>() == std::numeric_limits<int64_t>::min());
  CHECK(std::isinf(tg::full({1}, INFINITY).item<double>()));
  CHECK(std::isnan(tg::full({1}, nan, {.dtype = tg::kFloat64}).item<double>()));
}

namespace review14 {
// y = a * b + c, with c broadcast (a scalar or a row): backward returns dy for
// c, whose shape is the output's. PyTorch sums it to c's shape; tapegrad said
// "gradient for input 2 has shape [2], expected []".
struct MulAdd : tg::autograd::Function<MulAdd> {
  static Tensor forward(tg::autograd::FunctionCtx& ctx, const Tensor& a, const Tensor& b, const Tensor& c) {
    ctx.save_for_backward({a, b});
    return a * b + c;
  }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx& ctx, const Tensor& dy) {
    const Tensor a = ctx.saved()[0], b = ctx.saved()[1];
    return {dy * b, dy * a, dy};
  }
};
struct WrongShape : tg::autograd::Function<WrongShape> {
  static Tensor forward(tg::autograd::FunctionCtx&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx&, const Tensor&) {
    return {tg::ones({5}, {.dtype = tg::kFloat64})};
  }
};
}  // namespace review14

TEST_CASE("custom Function: a gradient of a broadcast input is summed to its shape (as PyTorch) and names are demangled") {
  Tensor a = tg::tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}, true), b = tg::tensor({5.0, 6.0, 7.0, 8.0}, {2, 2}, true);
  Tensor c = tg::scalar_tensor(10.0, tg::kFloat64).requires_grad_(), r = tg::tensor({1.0, 1.0}, {1, 2}, true);
  Tensor y = review14::MulAdd::apply(a, b, c);
  std::ostringstream tape;
  tape << tg::autograd::tape(y);
  CHECK(tape.str().find("review14::MulAdd(") != std::string::npos);
  y.sum().backward();
  CHECK(c.grad().shape() == tg::Shape{});
  CHECK(c.grad().item<double>() == 4.0);
  CHECK(a.grad().to_vector<double>() == std::vector<double>{5, 6, 7, 8});
  review14::MulAdd::apply(a, b, r).sum().backward();
  CHECK(r.grad().shape() == tg::Shape{1, 2});
  CHECK(r.grad().to_vector<double>() == std::vector<double>{2, 2});
  // a gradient the input does not broadcast to is still an error, naming the Function
  Tensor x = tg::tensor({1.0, 2.0}, {2}, true);
  CHECK_THROWS_WITH_AS(review14::WrongShape::apply(x).sum().backward(),
                       "backward of 'review14::WrongShape': gradient for input 0 has shape [5], expected [2]", tg::Error);
}

TEST_CASE("messages name the problem: loss dtypes, backward of a tensor without grad, max of an empty tensor") {
  const Tensor a = tg::zeros({2}), b = tg::zeros({2}, {.dtype = tg::kFloat64});
  CHECK_THROWS_WITH_AS(tg::F::mse_loss(a, b), "mse_loss: input dtype float32 and target dtype float64 differ; "
                                              "convert one with .to()", tg::Error);
  CHECK_THROWS_WITH_AS(tg::F::l1_loss(a, b), doctest::Contains("l1_loss: input dtype float32"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::F::binary_cross_entropy_with_logits(a, b),
                       doctest::Contains("binary_cross_entropy_with_logits: input dtype"), tg::Error);
  // was "grad can be implicitly created only for scalar outputs"
  CHECK_THROWS_WITH_AS(tg::zeros({2}).backward(), doctest::Contains("backward: the tensor does not require grad"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::scalar_tensor(1.0).backward(), doctest::Contains("does not require grad"), tg::Error);
  // was "amax: cannot reduce over dim 0"
  CHECK_THROWS_WITH_AS(tg::max(tg::zeros({0})), doctest::Contains("max: cannot reduce an empty tensor (shape [0])"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(tg::min(tg::zeros({2, 0})), doctest::Contains("min: cannot reduce an empty tensor"), tg::Error);
}
