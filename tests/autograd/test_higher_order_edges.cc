// Autograd edge cases found by the session-12 review, each against values
// derived by hand (PyTorch 1.13 gives the same): create_graph's .grad
// handling, custom Functions that save their output or return the wrong
// number of gradients, grad() with respect to an intermediate, masked
// backwards with infinite gradients, integer casts on the tape, gradcheck of
// a zero Jacobian, and printing a tape after backward.
#include <cmath>

#include "../common/test_util.h"

using tg::Tensor;
namespace ag = tg::autograd;

namespace {
std::vector<double> v(const Tensor& t) { return t.to_vector<double>(); }
Tensor leaf(std::vector<double> x) {
  Tensor t = tg::tensor(x);
  t.requires_grad_();
  return t;
}

// PyTorch's canonical custom op: y = exp(x), saving y for dx = dy * y.
struct SavedExp : ag::Function<SavedExp> {
  static Tensor forward(ag::FunctionCtx& ctx, const Tensor& x) {
    Tensor y = tg::exp(x);
    ctx.save_for_backward({y});
    return y;
  }
  static std::vector<Tensor> backward(ag::FunctionCtx& ctx, const Tensor& dy) { return {dy * ctx.saved()[0]}; }
};
// Returns its second input unchanged (b needs no grad) and saves it.
struct PassB : ag::Function<PassB> {
  static Tensor forward(ag::FunctionCtx& ctx, const Tensor&, const Tensor& b) {
    ctx.save_for_backward({b});
    return b;
  }
  static std::vector<Tensor> backward(ag::FunctionCtx& ctx, const Tensor& dy) {
    return {dy * ctx.saved()[0], Tensor()};  // claims dy/da = b
  }
};
// y = 2h, whose backward itself calls grad() on a graph sharing h's node.
Tensor g_h, g_s;
struct ReentrantScale : ag::Function<ReentrantScale> {
  static Tensor forward(ag::FunctionCtx&, const Tensor& h) { return h * 2.0; }
  static std::vector<Tensor> backward(ag::FunctionCtx&, const Tensor& dy) {
    const Tensor ds = ag::grad({g_s}, {g_h}, {.retain_graph = true})[0];  // 3 everywhere
    return {dy * 2.0 + ds * 0.0};
  }
};
// Two inputs, one gradient returned.
struct ShortGrads : ag::Function<ShortGrads> {
  static Tensor forward(ag::FunctionCtx&, const Tensor& a, const Tensor& b) { return a * b; }
  static std::vector<Tensor> backward(ag::FunctionCtx&, const Tensor& dy) { return {dy}; }
};
}  // namespace

TEST_CASE("autograd: create_graph gives each leaf its own .grad (a recorded clone)") {
  // add's backward hands one dy to both leaves: as their .grad it was one
  // tensor, and a later first-order backward into a changed b's too
  Tensor a = leaf({1, 2, 3}), b = leaf({4, 5, 6});
  const Tensor c = tg::tensor({2.0, 2.0, 2.0});
  ((a + b) * c).sum().backward({}, false, /*create_graph=*/true);
  CHECK(!a.grad().is_same(b.grad()));
  (a * 10.0).sum().backward();
  CHECK(v(a.grad()) == std::vector<double>{12, 12, 12});
  CHECK(v(b.grad()) == std::vector<double>{2, 2, 2});  // was 12

  // sum's dy is an expanded view: as .grad, the next in-place add threw
  Tensor y = leaf({1, 2, 3});
  y.sum().backward({}, false, true);
  y.sum().backward();
  CHECK(v(y.grad()) == std::vector<double>{2, 2, 2});

  // the caller's gradient was adopted, then doubled by the next backward
  Tensor x = leaf({1, 2});
  const Tensor g = tg::tensor({1.0, 0.5});
  x.backward(g, false, true);
  x.backward(g);
  CHECK(v(g) == std::vector<double>{1, 0.5});
  CHECK(v(x.grad()) == std::vector<double>{2, 1});

  // x.grad was the tensor w.grad's graph saved: the in-place add of a later
  // backward broke it ("modified by an in-place operation")
  Tensor p = leaf({0.5, 1.0}), w = leaf({0.0, 1.0});
  const Tensor k = tg::tensor({3.0, 4.0});
  ((p + tg::exp(w)) * k).sum().backward({}, false, true);
  (p * 1.0).sum().backward();
  const std::vector<double> d2 = v(ag::grad({w.grad().sum()}, {w})[0]);  // d/dw of k exp(w)
  CHECK(d2[0] == doctest::Approx(3 * std::exp(0.0)).epsilon(1e-12));
  CHECK(d2[1] == doctest::Approx(4 * std::exp(1.0)).epsilon(1e-12));
  // and .grad stays differentiable: d/dp of p.grad (= k, constant) is unused
  CHECK(w.grad().requires_grad());
  // A .grad recorded by create_graph refers to its graph, which refers to the
  // leaf: a cycle (PyTorch documents the same); clearing .grad breaks it.
  for (Tensor* t : {&a, &b, &y, &x, &p, &w}) t->set_grad(Tensor());
}

TEST_CASE("autograd: a custom Function's saved output is differentiable under create_graph") {
  Tensor x = leaf({0.5});
  const double e = std::exp(0.5);
  // f = exp(x) x: f' = e^x (1 + x), f'' = e^x (2 + x); the saved y was a
  // constant and f'' came out e^x (1 + x) + ... = 3.297 instead of 4.122
  Tensor f = (SavedExp::apply(x) * x).sum();
  Tensor g = ag::grad({f}, {x}, {.create_graph = true})[0];
  CHECK(g.item<double>() == doctest::Approx(e * 1.5).epsilon(1e-12));
  CHECK(ag::grad({g.sum()}, {x})[0].item<double>() == doctest::Approx(e * 2.5).epsilon(1e-12));
  // alone: exp'' = exp (the first gradient did not require grad at all)
  Tensor g1 = ag::grad({SavedExp::apply(x).sum()}, {x}, {.create_graph = true})[0];
  REQUIRE(g1.requires_grad());
  CHECK(ag::grad({g1.sum()}, {x})[0].item<double>() == doctest::Approx(e).epsilon(1e-12));
  // gradcheck of the first derivative (the gradgradcheck pattern)
  auto r = ag::gradcheck(
      [](const std::vector<Tensor>& in) {
        tg::EnableGradGuard eg;  // gradcheck's finite differences run under no-grad
        return ag::grad({(SavedExp::apply(in[0]) * in[0]).sum()}, {in[0]}, {.create_graph = true})[0];
      },
      {leaf({0.3, -0.7, 1.1})});
  INFO(r.report);
  CHECK(r.ok);
  // the node is freed with its graph: the saved output does not keep it alive
  const int64_t before = ag::Node::live_count();
  {
    Tensor z = leaf({0.25});
    Tensor gz = ag::grad({SavedExp::apply(z).sum()}, {z}, {.create_graph = true})[0];
    CHECK(ag::Node::live_count() > before);
  }
  CHECK(ag::Node::live_count() == before);
}

TEST_CASE("autograd: a custom Function returning an input unchanged does not attach it as its output") {
  // the saved b (no meta, as a new tensor) was re-attached as the output and
  // the second derivative came out 10; PyTorch 1.13 gives 4
  Tensor a = leaf({3.0});
  const Tensor b = tg::tensor({2.0});
  const Tensor y = PassB::apply(a, b);
  const Tensor g = ag::grad({(y * a).sum()}, {a}, {.create_graph = true})[0];  // y + a b = 8
  CHECK(g.item<double>() == 8.0);
  CHECK(ag::grad({g.sum()}, {a})[0].item<double>() == 4.0);
}

TEST_CASE("autograd: a backward that calls grad() itself (re-entrant) does not disturb the outer pass") {
  // the inner pass overwrote which nodes the outer one runs: x's gradient was lost
  Tensor x = leaf({1, 2});
  g_h = x * x;
  g_s = (g_h * 3.0).sum();
  const std::vector<Tensor> g =
      ag::grad({ReentrantScale::apply(g_h).sum()}, {x}, {.retain_graph = true, .allow_unused = true});
  REQUIRE(g[0].defined());
  CHECK(v(g[0]) == std::vector<double>{4, 8});  // d(2 x²)/dx
  ReentrantScale::apply(g_h).sum().backward();
  CHECK(v(x.grad()) == std::vector<double>{4, 8});
  g_h = Tensor();
  g_s = Tensor();
}

TEST_CASE("autograd: a custom Function's backward must return one gradient per input") {
  Tensor a = leaf({1, 2}), b = leaf({3, 4});
  CHECK_THROWS_WITH_AS(ShortGrads::apply(a, b).sum().backward(), doctest::Contains("backward returned 1 gradients for 2 inputs"), tg::Error);
}

TEST_CASE("autograd: grad() with respect to an intermediate runs only what it needs") {
  // h = x²: grad(y, h) ran and freed h's node too, so a later backward
  // through h threw "backward through the graph a second time"
  Tensor x = leaf({1, 2});
  Tensor h = x * x;
  Tensor y = (h * 3.0).sum();
  CHECK(v(ag::grad({y}, {h})[0]) == std::vector<double>{3, 3});
  h.sum().backward();
  CHECK(v(x.grad()) == std::vector<double>{2, 4});

  // a node below the requested input is not run: its modified saved tensor
  // (which would throw) and its NaN/Inf (anomaly mode) do not matter
  Tensor z = leaf({0.0, 1.0});
  Tensor s = tg::sqrt(z);  // d sqrt at 0 = inf
  Tensor t = (s * 2.0).sum();
  {
    ag::DetectAnomalyGuard anomaly;
    CHECK(v(ag::grad({t}, {s})[0]) == std::vector<double>{2, 2});
  }
  Tensor q = leaf({2, 4});
  Tensor qq = q * q;  // saves q
  Tensor a = qq * 1.0;
  Tensor out = (a * tg::tensor({3.0, 2.0})).sum();
  {
    tg::NoGradGuard ng;
    q.add_(1.0);  // q's version changes: qq's backward would throw
  }
  CHECK(v(ag::grad({out}, {a}, {.retain_graph = true})[0]) == std::vector<double>{3, 2});
  CHECK_THROWS_WITH_AS((ag::grad({out}, {q})), doctest::Contains("modified by an in-place operation"), tg::Error);

  // through a node an earlier backward freed: "a second time", as PyTorch
  // (it found nothing below the freed node and called x unused)
  Tensor f = leaf({1, 2, 3});
  Tensor fy = f * f;
  fy.sum().backward();
  Tensor fz = (fy * 3.0).sum();
  CHECK_THROWS_WITH_AS(ag::grad({fz}, {f}), doctest::Contains("backward through the graph a second time"), tg::Error);
  CHECK_THROWS_WITH_AS((ag::grad({fz}, {f}, {.allow_unused = true})), doctest::Contains("a second time"), tg::Error);
  CHECK(v(ag::grad({fz}, {fy})[0]) == std::vector<double>{3, 3, 3});  // above the freed node: fine

  // an input above another input: both get their gradients
  Tensor u = leaf({1.5});
  Tensor w2 = u * u;
  Tensor r = (w2 * 5.0).sum();
  const std::vector<Tensor> gs = ag::grad({r}, {w2, u});
  CHECK(gs[0].item<double>() == 5.0);
  CHECK(gs[1].item<double>() == 15.0);  // 10 u
}

TEST_CASE("autograd: relu, clamp, maximum and minimum select their gradient (inf where cut gives 0, not NaN)") {
  // sqrt(relu(x)) at x = -1: dy = inf reaches relu where it is cut off;
  // dy * [x > 0] was inf * 0 = NaN (PyTorch's threshold_backward gives 0)
  for (bool cg : {false, true}) {
    CAPTURE(cg);
    Tensor x = leaf({-1.0, 4.0});
    const std::vector<Tensor> g = ag::grad({tg::sqrt(tg::relu(x)).sum()}, {x}, {.create_graph = cg});
    CHECK(v(g[0]) == std::vector<double>{0.0, 0.25});
    Tensor c = leaf({-1.0, 4.0});
    CHECK(v(ag::grad({tg::sqrt(tg::clamp_min(c, 0.0)).sum()}, {c}, {.create_graph = cg})[0]) ==
          std::vector<double>{0.0, 0.25});
    Tensor m = leaf({-1.0, 4.0});
    const Tensor zero = tg::zeros({2}, {.dtype = tg::kFloat64});
    CHECK(v(ag::grad({tg::sqrt(tg::maximum(m, zero)).sum()}, {m}, {.create_graph = cg})[0]) ==
          std::vector<double>{0.0, 0.25});
    Tensor n = leaf({1.0, -4.0});
    CHECK(v(ag::grad({tg::sqrt(tg::neg(tg::minimum(n, zero))).sum()}, {n}, {.create_graph = cg})[0]) ==
          std::vector<double>{0.0, -0.25});
  }
  // ties still split, NaN still passes to both
  Tensor a = leaf({1.0, 2.0, NAN}), b = leaf({1.0, 1.0, 0.0});
  tg::maximum(a, b).sum().backward();
  const std::vector<double> da = v(a.grad()), db = v(b.grad());
  CHECK(da[0] == 0.5);
  CHECK(db[0] == 0.5);
  CHECK(da[1] == 1.0);
  CHECK(db[1] == 0.0);
  CHECK(da[2] == 1.0);
  CHECK(db[2] == 1.0);
}

TEST_CASE("autograd: an integer cast is not on the tape (its gradient was rounded)") {
  // sum(c * x.to(int64).to(f64)): the gradient came back through the cast
  // as round(c) (1.7 -> 1); PyTorch: x.to(int64) does not require grad
  Tensor x = leaf({1.5, 2.5});
  Tensor i = x.to(tg::kInt64);
  CHECK(!i.requires_grad());
  Tensor y = (i.to(tg::kFloat64) * 1.7).sum();
  CHECK(!y.requires_grad());
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("does not require grad"), tg::Error);
  CHECK(!x.grad().defined());
}

TEST_CASE("autograd: gradcheck compares a zero analytic Jacobian with the numeric one") {
  // sign(x): no op records a backward, the Jacobian is 0 and so is the
  // numeric one (gradcheck threw "the output does not require grad")
  auto r = ag::gradcheck([](const std::vector<Tensor>& in) { return tg::sign(in[0]); },
                         {leaf({0.5, -1.5, 2.0})});
  INFO(r.report);
  CHECK(r.ok);
  // the same, second order: relu's first derivative is piecewise constant
  auto r2 = ag::gradcheck(
      [](const std::vector<Tensor>& in) {
        tg::EnableGradGuard eg;
        return ag::grad({tg::relu(in[0]).sum()}, {in[0]}, {.create_graph = true})[0];
      },
      {leaf({0.5, -1.5, 2.0})});
  INFO(r2.report);
  CHECK(r2.ok);
  // an output cut off from an input it depends on still fails
  auto cut = ag::gradcheck([](const std::vector<Tensor>& in) { return tg::exp(in[0].detach()); },
                           {leaf({0.5, -1.5})});
  CHECK_FALSE(cut.ok);
}

TEST_CASE("autograd: printing the tape after backward freed it is an error, not a crash") {
  Tensor w = leaf({1, 2});
  Tensor loss = (w * w).sum();
  std::ostringstream before;
  before << ag::tape(loss);
  CHECK(before.str().find("mul") != std::string::npos);
  loss.backward();
  CHECK_THROWS_WITH_AS(ag::tape(loss), doctest::Contains("tape: the graph of this tensor was freed by backward()"), tg::Error);
  CHECK_THROWS_WITH_AS(ag::to_dot(loss), doctest::Contains("to_dot: the graph of this tensor was freed"), tg::Error);
  Tensor kept = (w * w).sum();
  kept.backward({}, /*retain_graph=*/true);
  std::ostringstream after;
  after << ag::tape(kept);
  CHECK(after.str().find("mul") != std::string::npos);
}

TEST_CASE("nn: cross_entropy's create_graph gradient is 0 on ignored rows, as its first-order one") {
  // an ignored row with a NaN logit: 0 * softmax gave NaN on the recorded path
  Tensor logits = tg::tensor({NAN, 1.0, 0.0, 2.0, 0.0, -1.0}, {2, 3});  // a NaN softmax: 0 * NaN
  logits.requires_grad_();
  const Tensor target = tg::tensor(std::vector<int64_t>{1, 0}, {2});
  for (bool cg : {false, true}) {
    CAPTURE(cg);
    Tensor loss = tg::nn::functional::cross_entropy(logits, target, {.ignore_index = 1});
    const std::vector<double> g = v(ag::grad({loss}, {logits}, {.create_graph = cg})[0]);
    CHECK(g[0] == 0.0);
    CHECK(g[1] == 0.0);
    CHECK(g[2] == 0.0);
    // row 1, target 0: softmax - onehot
    const double s = std::exp(2.0) + 1.0 + std::exp(-1.0);
    CHECK(g[3] == doctest::Approx(std::exp(2.0) / s - 1).epsilon(1e-12));
    CHECK(g[4] == doctest::Approx(1.0 / s).epsilon(1e-12));
  }
}
