// Autograd engine edge cases found by review (session 10), each checked
// against values derived by hand (and against PyTorch 1.13 when found):
// a gradient handle shared between two leaves or with the caller, partial
// sums left behind by a backward that throws, custom Functions' saved tensors
// modified in place, pow's gradient at 0^0, and slice backward on an expanded
// (stride-0) dim.
#include "../common/test_util.h"

using tg::Tensor;

namespace {
std::vector<double> v(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST_CASE("autograd: a gradient handed to two inputs is never shared as their .grad") {
  // add's backward gives both inputs the same dy; it became a.grad and b.grad
  // at once, and the in-place accumulation of one changed the other.
  Tensor a = tg::tensor({1.0, 2.0, 3.0}), b = tg::tensor({1.0, 1.0, 1.0});
  a.requires_grad_();
  b.requires_grad_();
  const Tensor c = tg::tensor({2.0, 2.0, 2.0});
  (((a + b) * c).sum() + (a * a).sum()).backward();
  CHECK(v(a.grad()) == std::vector<double>{4.0, 6.0, 8.0});  // c + 2a
  CHECK(v(b.grad()) == std::vector<double>{2.0, 2.0, 2.0});  // c (was a's [4, 6, 8])

  Tensor x = tg::tensor({1.0, 2.0}), y = tg::tensor({3.0, 4.0});
  x.requires_grad_();
  y.requires_grad_();
  (x + y).sum().backward();
  (x + y).sum().backward();
  CHECK(v(x.grad()) == std::vector<double>{2.0, 2.0});
  CHECK(v(y.grad()) == std::vector<double>{2.0, 2.0});  // was 3: x's second add went into y's grad too

  // a leaf's .grad and another node's pending gradient: z.grad depends on
  // h = a + tanh(z)'s dy reaching tanh's node unchanged
  Tensor z = tg::tensor({0.5, -0.25}), w = tg::tensor({1.5, 2.0});
  z.requires_grad_();
  w.requires_grad_();
  const Tensor k = tg::tensor({2.0, 3.0});
  const Tensor h = w + tg::tanh(z);
  ((h * k).sum() + (w * 4.0).sum()).backward();
  const std::vector<double> dz = v(z.grad());
  for (size_t i = 0; i < 2; ++i) {
    const double t = std::tanh(i == 0 ? 0.5 : -0.25);
    CHECK(dz[i] == doctest::Approx(v(k)[i] * (1 - t * t)).epsilon(1e-12));
  }
  CHECK(v(w.grad()) == std::vector<double>{6.0, 7.0});  // k + 4
}

TEST_CASE("autograd: the caller's gradient tensor is never adopted as .grad") {
  Tensor x = tg::tensor({1.0, 2.0});
  x.requires_grad_();
  const Tensor g = tg::tensor({0.5, 0.25});
  x.backward(g);
  x.backward(g);
  CHECK(v(x.grad()) == std::vector<double>{1.0, 0.5});
  CHECK(v(g) == std::vector<double>{0.5, 0.25});  // was doubled in place by the second backward
  Tensor y = x * 2.0;
  const Tensor gy = tg::tensor({1.0, 1.0});
  x.set_grad(Tensor());
  y.backward(gy);
  y = x * 2.0;
  y.backward(gy);
  CHECK(v(x.grad()) == std::vector<double>{4.0, 4.0});
  CHECK(v(gy) == std::vector<double>{1.0, 1.0});
}

TEST_CASE("autograd: a backward that throws leaves no partial sums for the next one") {
  Tensor w = tg::tensor({1.0, 2.0});
  w.requires_grad_();
  const Tensor z = w * 3.0;
  Tensor e = tg::tensor({5.0, 5.0});
  const Tensor bb = z * e;  // saves e
  const Tensor a = (z * 2.0).sum();
  const Tensor loss = bb.sum() + a;
  {
    tg::NoGradGuard ng;
    e.add_(1.0);
  }
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("modified by an in-place operation"), tg::Error);
  z.sum().backward();
  CHECK(v(w.grad()) == std::vector<double>{3.0, 3.0});  // was 9: z's buffer kept a's partial 2
}

namespace {
struct ScaleBy : tg::autograd::Function<ScaleBy> {
  // y = x * w   dx = dy * w
  static Tensor forward(tg::autograd::FunctionCtx& ctx, const Tensor& x, const Tensor& w) {
    ctx.save_for_backward({w});
    return x * w;
  }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx& ctx, const Tensor& dy) {
    return {dy * ctx.saved()[0], Tensor()};
  }
};
}  // namespace

TEST_CASE("autograd: a custom Function's saved tensor modified in place is an error, as the built-in ops'") {
  Tensor x = tg::tensor({1.0, 2.0});
  x.requires_grad_();
  Tensor w = tg::tensor({3.0, 4.0});
  const Tensor y = ScaleBy::apply(x, w).sum();
  {
    tg::NoGradGuard ng;
    w.mul_(10.0);
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("custom Function: saved tensor 0 was modified"), tg::Error);
  // unmodified: the gradient
  Tensor w2 = tg::tensor({3.0, 4.0});
  ScaleBy::apply(x, w2).sum().backward();
  CHECK(v(x.grad()) == std::vector<double>{3.0, 4.0});
}

TEST_CASE("autograd: pow's gradient is 0, not NaN, where the exponent is 0 (also at base 0)") {
  Tensor a = tg::tensor({0.0, 2.0});
  a.requires_grad_();
  tg::pow(a, 0.0).sum().backward();
  CHECK(v(a.grad()) == std::vector<double>{0.0, 0.0});
  a.set_grad(Tensor());
  const Tensor b = tg::tensor({0.0, 0.0});
  tg::pow(a, b).sum().backward();
  CHECK(v(a.grad()) == std::vector<double>{0.0, 0.0});
  // second derivative of x^1 at 0: d/dx (1 * x^0) = 0
  Tensor x = tg::tensor({0.0, 3.0});
  x.requires_grad_();
  const Tensor d1 = tg::autograd::grad({tg::pow(x, 1.0).sum()}, {x}, {.create_graph = true})[0];
  const Tensor d2 = tg::autograd::grad({d1.sum()}, {x})[0];
  CHECK(v(d1) == std::vector<double>{1.0, 1.0});
  CHECK(v(d2) == std::vector<double>{0.0, 0.0});
  // non-zero exponents keep their gradient: 3 a^2 at 2
  Tensor c = tg::tensor({2.0});
  c.requires_grad_();
  tg::pow(c, tg::tensor({3.0})).sum().backward();
  CHECK(v(c.grad()) == std::vector<double>{12.0});
}

TEST_CASE("autograd: slice of an expanded (stride-0) dim sends the gradient to the rows it took") {
  Tensor x = tg::tensor({1.0, 2.0, 3.0}, {1, 3});
  x.requires_grad_();
  const Tensor e = tg::expand(x, {4, 3});
  const Tensor w = tg::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  const auto g = tg::autograd::grad({(e.slice(0, 2, 4) * w).sum()}, {e, x});
  CHECK(v(g[0]) == std::vector<double>{0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6});  // rows 2-3, was 0-1
  CHECK(v(g[1]) == std::vector<double>{5, 7, 9});
  const Tensor e2 = tg::expand(x, {4, 3});
  const auto gs = tg::autograd::grad({(e2.select(0, 3) * 2.0).sum()}, {e2});
  CHECK(v(gs[0]) == std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2});
}

TEST_CASE("autograd: gradients given by the caller must match the output's shape, dtypes are converted") {
  Tensor x = tg::tensor({1.0, 2.0, 3.0});
  x.requires_grad_();
  const Tensor y = x * 5.0;
  // a [1] gradient for a [3] output was broadcast to [5, 5, 5]
  CHECK_THROWS_WITH_AS(tg::autograd::grad({y}, {x}, {.grad_outputs = {tg::tensor({1.0})}}),
                       doctest::Contains("grad: grad_outputs[0] has shape [1], its output has shape [3]"), tg::Error);
  // float32 gradients for a float64 output: converted (a float32 .grad of a
  // float64 leaf made the next backward fail)
  (x * 2.0).backward(tg::tensor({1.0f, 1.0f, 1.0f}));
  CHECK(x.grad().dtype() == tg::kFloat64);
  (x * 2.0).backward(tg::tensor({1.0f, 1.0f, 1.0f}));
  CHECK(v(x.grad()) == std::vector<double>{4.0, 4.0, 4.0});
  const auto g = tg::autograd::grad({x * 3.0}, {x}, {.grad_outputs = {tg::tensor({1.0f, 2.0f, 3.0f})}});
  CHECK(g[0].dtype() == tg::kFloat64);
  CHECK(v(g[0]) == std::vector<double>{3.0, 6.0, 9.0});
}

TEST_CASE("gradcheck: an expanded (stride-0) input is an error, not a false mismatch (found by review, session 11)") {
  using V = const std::vector<Tensor>&;
  Tensor e = tg::randn({1}, {.dtype = tg::kFloat64}).expand({3}).requires_grad_();
  CHECK_THROWS_WITH_AS(tg::autograd::gradcheck([](V v) { return v[0] * 2.0; }, {e}),
                       doctest::Contains("gradcheck: input 0 has stride 0 in dim 0 (shape [3])"), tg::Error);
  Tensor c = tg::randn({3}, {.dtype = tg::kFloat64}).requires_grad_();  // the contiguous copy passes
  CHECK(tg::autograd::gradcheck([](V v) { return v[0] * 2.0; }, {c}).ok);
}

TEST_CASE("autograd: in-place ops refuse an operand that requires grad and a NoGradGuard view, with grad mode on (session 14)") {
  // In-place ops are not recorded: b.add_(x) with x requiring grad made b
  // without a graph, and x's gradient was lost without a word (PyTorch
  // records it). Refused, and b is left as it was.
  Tensor x = tg::tensor({1.0, 2.0});
  x.requires_grad_();
  Tensor b = tg::zeros({2}, {.dtype = tg::DType::Float64});
  CHECK_THROWS_WITH_AS(b.add_(x), doctest::Contains("add_: the operand requires grad"), tg::Error);
  CHECK_THROWS_WITH_AS(b.add_(x, 2.0), doctest::Contains("add_: the operand requires grad"), tg::Error);
  CHECK_THROWS_WITH_AS(b.mul_(x), doctest::Contains("mul_: the operand requires grad"), tg::Error);
  CHECK_THROWS_WITH_AS(b.div_(x), doctest::Contains("div_: the operand requires grad"), tg::Error);
  CHECK_THROWS_WITH_AS(b.copy_(x), doctest::Contains("copy_: the operand requires grad"), tg::Error);
  CHECK(b.to_vector<double>() == std::vector<double>{0, 0});
  b.add_(x.detach());
  CHECK(b.to_vector<double>() == std::vector<double>{1, 2});
  {
    tg::NoGradGuard ng;
    b.add_(x);
    b.copy_(x * 3.0);
  }
  CHECK(b.to_vector<double>() == std::vector<double>{3, 6});
  CHECK(!b.requires_grad());

  // A view made under NoGradGuard of a tensor that requires grad, modified in
  // place with grad mode on: it changed the base behind the graph's back
  // (a = x * 1, v = a[0:1] under the guard, v *= 2, then a's gradient path
  // saw values autograd never recorded). Refused, as in PyTorch; so is a view
  // of that view made with grad mode on. In the same mode it is fine.
  Tensor a = x * 1.0;
  Tensor v;
  {
    tg::NoGradGuard ng;
    v = a.narrow(0, 0, 1);
  }
  CHECK(!v.requires_grad());
  CHECK_THROWS_WITH_AS(v.mul_(2.0), doctest::Contains("mul_: in-place operation with grad mode on, on a view made under tg::NoGradGuard"), tg::Error);
  CHECK_THROWS_WITH_AS(v.fill_(0.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  Tensor vv = v.reshape({1});
  CHECK_THROWS_WITH_AS(vv.zero_(), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  CHECK(a.to_vector<double>() == std::vector<double>{1, 2});
  {
    tg::NoGradGuard ng;
    v.mul_(5.0);
  }
  CHECK(a.to_vector<double>() == std::vector<double>{5, 2});
  // A copy is not a view; a view of a plain tensor is not refused.
  Tensor c;
  {
    tg::NoGradGuard ng;
    c = a.narrow(0, 0, 1).clone();
  }
  c.mul_(2.0);
  CHECK(c.to_vector<double>() == std::vector<double>{10});
  Tensor p = tg::tensor({1.0, 2.0}), pv;
  {
    tg::NoGradGuard ng;
    pv = p.narrow(0, 1, 1);
  }
  pv.add_(1.0);
  CHECK(p.to_vector<double>() == std::vector<double>{1, 3});
  // Once the base no longer requires grad (frozen), the view may be changed
  // in place, as in PyTorch; a view of a view follows its root.
  Tensor w = tg::tensor({1.0, 2.0}, {}, true), wv;
  {
    tg::NoGradGuard ng;
    wv = w.narrow(0, 0, 1);
  }
  Tensor wvv = wv.reshape({1});
  CHECK_THROWS_WITH_AS(wv.mul_(3.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  w.requires_grad_(false);
  wv.mul_(3.0);
  wvv.add_(1.0);
  CHECK(w.to_vector<double>() == std::vector<double>{4, 2});
  w.requires_grad_(true);
  CHECK_THROWS_WITH_AS(wvv.add_(1.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  // A view made while the base was frozen is refused once it is unfrozen.
  w.requires_grad_(false);
  Tensor fv;
  {
    tg::NoGradGuard ng;
    fv = w.narrow(0, 1, 1);
  }
  fv.add_(1.0);
  w.requires_grad_(true);
  CHECK_THROWS_WITH_AS(fv.add_(1.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  CHECK(w.to_vector<double>() == std::vector<double>{4, 3});
  // The view holds its base's meta: dropping the views in between, or the
  // base itself, does not lift the refusal (it did while the link was weak).
  Tensor leaf = tg::tensor({1.0, 2.0, 3.0, 4.0}, {}, true), v2;
  {
    Tensor v1 = leaf.reshape({2, 2});  // a recorded view, dropped below
    tg::NoGradGuard ng;
    v2 = v1.narrow(0, 0, 1);
  }
  CHECK_THROWS_WITH_AS(v2.mul_(10.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  Tensor lv;
  {
    Tensor tmp = tg::tensor({1.0, 2.0}, {}, true);
    tg::NoGradGuard ng;
    lv = tmp.narrow(0, 0, 1);
  }
  CHECK_THROWS_WITH_AS(lv.mul_(3.0), doctest::Contains("view made under tg::NoGradGuard"), tg::Error);
  CHECK(leaf.to_vector<double>() == std::vector<double>{1, 2, 3, 4});
}
