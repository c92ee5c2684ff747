// Autograd: every op's forward and gradient against PyTorch (tests/reference/ops.json),
// gradchecks with broadcast and non-contiguous inputs, a deliberately broken
// backward that gradcheck must catch, higher-order gradients, graph freeing,
// retain_graph, anomaly mode, custom functions and the printable tape.
#include <map>

#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;
using tg::autograd::gradcheck;

namespace {

std::vector<int64_t> ints(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

// Applies the op named in a reference entry to tensors `in` (by input name).
Tensor apply_op(const nlohmann::json& e, std::map<std::string, Tensor>& in) {
  const std::string op = e["op"];
  const auto& a = e["args"];
  auto A = [&] { return in.at("a"); };
  auto B = [&] { return in.at("b"); };
  auto dims = [&]() -> std::vector<int64_t> {
    if (!a.contains("dim") || a["dim"].is_null()) return {};
    return a["dim"].is_array() ? ints(a["dim"]) : std::vector<int64_t>{a["dim"].get<int64_t>()};
  };
  const bool keep = a.value("keepdim", false);
  if (op == "add") return a.contains("other") ? A() + a["other"].get<double>() : A() + B();
  if (op == "sub") return A() - B();
  if (op == "mul") return a.contains("other") ? A() * a["other"].get<double>() : A() * B();
  if (op == "div") return a.contains("other") ? A() / a["other"].get<double>() : A() / B();
  if (op == "rsub") return a["other"].get<double>() - A();
  if (op == "pow") return a.contains("exponent") ? tg::pow(A(), a["exponent"].get<double>()) : tg::pow(A(), B());
  if (op == "exp") return tg::exp(A());
  if (op == "log") return tg::log(A());
  if (op == "sqrt") return tg::sqrt(A());
  if (op == "rsqrt") return tg::rsqrt(A());
  if (op == "abs") return tg::abs(A());
  if (op == "neg") return -A();
  if (op == "relu") return tg::relu(A());
  if (op == "leaky_relu") return tg::leaky_relu(A(), a["negative_slope"].get<double>());
  if (op == "sigmoid") return tg::sigmoid(A());
  if (op == "tanh") return tg::tanh(A());
  if (op == "gelu") return tg::gelu(A(), a["approximate"] == "tanh" ? tg::GeluApprox::Tanh : tg::GeluApprox::None);
  if (op == "clamp") return tg::clamp(A(), a["min"].get<double>(), a["max"].get<double>());
  if (op == "square") return tg::square(A());
  if (op == "sum") return tg::sum(A(), dims(), keep);
  if (op == "mean") return tg::mean(A(), dims(), keep);
  if (op == "var") return tg::var(A(), dims(), a["correction"].get<int64_t>(), keep);
  if (op == "amax") return tg::amax(A(), dims(), keep);
  if (op == "amin") return tg::amin(A(), dims(), keep);
  if (op == "logsumexp") return tg::logsumexp(A(), dims(), keep);
  if (op == "max") return tg::max(A(), a["dim"].get<int64_t>(), keep).values;
  if (op == "min") return tg::min(A(), a["dim"].get<int64_t>(), keep).values;
  if (op == "softmax") return tg::softmax(A(), a["dim"].get<int64_t>());
  if (op == "log_softmax") return tg::log_softmax(A(), a["dim"].get<int64_t>());
  if (op == "matmul") return tg::matmul(A(), B());
  if (op == "cat" || op == "stack") {
    std::vector<Tensor> xs;
    for (const auto& n : a["order"]) xs.push_back(in.at(n.get<std::string>()));
    return op == "cat" ? tg::cat(xs, a["dim"].get<int64_t>()) : tg::stack(xs, a["dim"].get<int64_t>());
  }
  if (op == "index_select")
    return tg::index_select(A(), a["dim"].get<int64_t>(), tgtest::from_json(a["index"], tg::kInt64));
  if (op == "gather") return tg::gather(A(), a["dim"].get<int64_t>(), tgtest::from_json(a["index"], tg::kInt64));
  if (op == "where") return tg::where(tgtest::from_json(a["condition"]), A(), B());
  if (op == "transpose") return A().transpose(a["dim0"].get<int64_t>(), a["dim1"].get<int64_t>());
  if (op == "permute") return A().permute(Shape(ints(a["dims"])));
  if (op == "reshape") return A().reshape(Shape(ints(a["shape"])));
  if (op == "expand") return A().expand(Shape(ints(a["size"])));
  if (op == "narrow") return A().narrow(a["dim"].get<int64_t>(), a["start"].get<int64_t>(), a["length"].get<int64_t>());
  return Tensor();  // not supported (sin, cos, std, ...)
}

}  // namespace

TEST_CASE("autograd: every op's output and gradients match PyTorch (ops.json)") {
  const auto ref = tgtest::load_json("ops.json");
  int checked = 0;
  std::vector<std::string> skipped;
  for (const auto& e : ref["entries"]) {
    const std::string name = e["name"];
    CAPTURE(name);
    if (e["op"] == "one_hot") {
      if (e["args"]["num_classes"].get<int64_t>() < 0) { skipped.push_back(name); continue; }
      Tensor y = tg::one_hot(tgtest::from_json(e["args"]["a"], tg::kInt64), e["args"]["num_classes"].get<int64_t>());
      CHECK(tgtest::max_abs_diff(y.to(tg::kFloat64), tgtest::from_json(e["output"])) == 0);
      ++checked;
      continue;
    }
    if (e["op"] == "argmax") {
      Tensor y = tg::argmax(tgtest::from_json(e["args"]["a"]), e["args"]["dim"].get<int64_t>());
      CHECK(tgtest::max_abs_diff(y.to(tg::kFloat64), tgtest::from_json(e["output"])) == 0);
      ++checked;
      continue;
    }
    std::map<std::string, Tensor> in;
    std::vector<std::string> names;
    for (auto it = e["inputs"].begin(); it != e["inputs"].end(); ++it) {
      Tensor t = tgtest::from_json(it.value());
      t.requires_grad_();
      in[it.key()] = t;
      names.push_back(it.key());
    }
    Tensor y = apply_op(e, in);
    if (!y.defined()) { skipped.push_back(name); continue; }
    const Tensor expect = tgtest::from_json(e["output"]);
    CHECK(tgtest::max_abs_diff(y, expect) < 1e-12);
    y.backward(tgtest::from_json(e["dy"]));
    for (const auto& n : names) {
      CAPTURE(n);
      REQUIRE(in[n].grad().defined());
      CHECK(tgtest::max_abs_diff(in[n].grad(), tgtest::from_json(e["grads"][n])) < 1e-12);
    }
    ++checked;
  }
  MESSAGE("checked " << checked << " reference entries; skipped (op not in tapegrad): " << skipped.size());
  CHECK(checked >= 95);
}

namespace {
Tensor rnd(Shape s, uint64_t seed, double lo = -1, double hi = 1) {
  tg::Generator g(seed);
  Tensor t = tg::uniform(s, lo, hi, g, {.dtype = tg::kFloat64});
  t.requires_grad_();
  return t;
}
void expect_gradcheck(const tg::autograd::GradcheckFn& f, const std::vector<Tensor>& xs) {
  auto r = gradcheck(f, xs);
  INFO(r.report);
  CHECK(r.ok);
}
}  // namespace

TEST_CASE("autograd: gradcheck of every op family with broadcast and non-contiguous inputs") {
  Tensor a = rnd({3, 4}, 1), b = rnd({4}, 2), c = rnd({3, 1}, 3), p = rnd({3, 4}, 4, 0.5, 2.0);
  Tensor at = rnd({4, 3}, 5).t().detach();  // a non-contiguous leaf [3,4]
  at.requires_grad_();
  using V = const std::vector<Tensor>&;
  expect_gradcheck([](V x) { return x[0] + x[1]; }, {a, b});
  expect_gradcheck([](V x) { return x[0] - x[1] * x[2]; }, {at, b, c});
  expect_gradcheck([](V x) { return x[0] / x[1]; }, {a, p});
  expect_gradcheck([](V x) { return tg::pow(x[0], x[1]); }, {p, c});
  expect_gradcheck([](V x) { return tg::maximum(x[0], x[1]) + tg::minimum(x[0], x[1]) * 2.0; }, {a, at});
  expect_gradcheck([](V x) { return (3.0 - x[0]) * 2.0 / 5.0 + 1.0 / x[1] + tg::pow(x[1], 1.5); }, {at, p});
  expect_gradcheck([](V x) { return tg::where(x[0] > 0.0, x[0], x[1]); }, {a, c});
  expect_gradcheck([](V x) {
    return tg::exp(x[0]) + tg::log(x[1]) + tg::sqrt(x[1]) + tg::rsqrt(x[1]) + tg::abs(x[0]) + tg::square(x[0]);
  }, {at, p});
  expect_gradcheck([](V x) {
    return tg::sigmoid(x[0]) + tg::tanh(x[0]) + tg::erf(x[0]) + tg::gelu(x[0]) + tg::gelu(x[0], tg::GeluApprox::Tanh);
  }, {at});
  expect_gradcheck([](V x) { return tg::relu(x[0]) + tg::leaky_relu(x[0], 0.2) + tg::clamp(x[0], -0.5, 0.5); }, {at});
  expect_gradcheck([](V x) { return tg::sum(x[0], {1}) + tg::mean(x[0], {1}) + tg::var(x[0], {1}); }, {at});
  expect_gradcheck([](V x) { return tg::sum(x[0]) * tg::mean(x[0]) + tg::var(x[0], {0, 1}, 0); }, {a});
  expect_gradcheck([](V x) { return tg::amax(x[0], {0}) + tg::amin(x[0], {1}, true).sum() + tg::max(x[0]); }, {at});
  expect_gradcheck([](V x) { return tg::max(x[0], 1).values + tg::min(x[0], 0, true).values.sum(); }, {at});
  expect_gradcheck([](V x) { return tg::logsumexp(x[0], {1}) + (tg::softmax(x[0], 0) * x[0]).sum(1) + (tg::log_softmax(x[0], 1) * x[0]).sum(1); }, {at});
  expect_gradcheck([](V x) { return tg::matmul(x[0], x[1]); }, {at, rnd({4, 2}, 6)});
  expect_gradcheck([](V x) { return tg::matmul(x[0], x[1]); }, {rnd({2, 3, 4}, 7), rnd({4, 5}, 8)});
  expect_gradcheck([](V x) { return tg::matmul(x[0], x[1]); }, {rnd({2, 3, 4}, 9), rnd({1, 4, 2}, 10)});
  expect_gradcheck([](V x) { return tg::matmul(x[0], x[1]) + tg::matmul(x[1], x[1]); }, {rnd({4}, 11), rnd({4}, 12)});
  expect_gradcheck([](V x) { return tg::linear(x[0], x[1], x[2]); }, {rnd({2, 3, 4}, 13), rnd({5, 4}, 14), rnd({5}, 15)});
  expect_gradcheck([](V x) {
    return x[0].reshape({2, 6}).transpose(0, 1).permute({1, 0}).expand({2, 2, 6}).slice(2, 1, 6, 2).select(1, 1);
  }, {at});
  expect_gradcheck([](V x) { return x[0].narrow(1, 1, 2).unsqueeze(0).squeeze(0).flatten() * 1.0; }, {at});
  expect_gradcheck([](V x) { return tg::cat({x[0], x[1], x[0]}, 0) * 2.0; }, {at, rnd({1, 4}, 16)});
  expect_gradcheck([](V x) { return tg::stack({x[0], x[1]}, 1); }, {at, a});
  const Tensor idx = tg::tensor(std::vector<int64_t>{2, 0, 2});
  const Tensor gidx = tg::tensor(std::vector<int64_t>{3, 0, 1, 1, 2, 3}, {3, 2});
  expect_gradcheck([&](V x) { return tg::index_select(x[0], 1, idx); }, {at});
  expect_gradcheck([&](V x) { return tg::gather(x[0], 1, gidx); }, {at});
  expect_gradcheck([&](V x) { return tg::scatter_add(x[0], 1, gidx, x[1]); }, {at, rnd({3, 2}, 17)});
  expect_gradcheck([&](V x) { return tg::index_add(x[0], 1, idx, x[1]); }, {at, rnd({3, 3}, 18)});
  expect_gradcheck([](V x) { return x[0].clone() * 3.0 + x[0].contiguous(); }, {at});
  // to(): the gradient comes back in the input's dtype
  Tensor f = rnd({2}, 19);
  (f.to(tg::kFloat32) * 2.0).sum().backward();
  CHECK(f.grad().dtype() == tg::kFloat64);
  CHECK(f.grad().to_vector<double>() == std::vector<double>{2, 2});
}

// A custom op whose backward is deliberately wrong: gradcheck must catch it.
struct WrongSquare : tg::autograd::Function<WrongSquare> {
  static Tensor forward(tg::autograd::FunctionCtx& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx& ctx, const Tensor& dy) {
    return {dy * ctx.saved()[0]};  // should be 2 x dy
  }
};
struct ZeroGrad : tg::autograd::Function<ZeroGrad> {
  static Tensor forward(tg::autograd::FunctionCtx&, const Tensor& x) { return tg::exp(x); }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx&, const Tensor& dy) { return {tg::zeros_like(dy)}; }
};
// A correct custom op: y = x³, dx = 3x² dy.
struct Cube : tg::autograd::Function<Cube> {
  static Tensor forward(tg::autograd::FunctionCtx& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x * x;
  }
  static std::vector<Tensor> backward(tg::autograd::FunctionCtx& ctx, const Tensor& dy) {
    const Tensor& x = ctx.saved()[0];
    return {dy * x * x * 3.0};
  }
};

TEST_CASE("autograd: gradcheck fails on a broken backward and passes a correct custom function") {
  Tensor x = rnd({5}, 20);
  auto bad = gradcheck([](const std::vector<Tensor>& v) { return WrongSquare::apply(v[0]); }, {x});
  CHECK_FALSE(bad.ok);
  CHECK(bad.max_abs_error[0] > 0.01);
  CHECK(bad.report.find("MISMATCH") != std::string::npos);
  auto zero = gradcheck([](const std::vector<Tensor>& v) { return ZeroGrad::apply(v[0]); }, {x});
  CHECK_FALSE(zero.ok);
  auto good = gradcheck([](const std::vector<Tensor>& v) { return Cube::apply(v[0]); }, {x});
  INFO(good.report);
  CHECK(good.ok);
  CHECK(good.max_abs_error[0] < 1e-8);
}

TEST_CASE("autograd: leaf gradients accumulate, zeroing, detach, NoGradGuard, freezing") {
  Tensor w = tg::tensor({1.0, 2.0, 3.0});
  w.requires_grad_();
  CHECK(w.is_leaf());
  Tensor loss = (w * w).sum();  // d/dw = 2w
  CHECK(!loss.is_leaf());
  loss.backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  (w * 3.0).sum().backward();  // accumulates
  CHECK(w.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  w.set_grad(Tensor());
  CHECK(!w.grad().defined());
  {
    tg::NoGradGuard g;
    Tensor y = w * 2.0;
    CHECK(!y.requires_grad());
  }
  CHECK(!w.detach().requires_grad());
  CHECK(w.detach().impl()->storage == w.impl()->storage);
  Tensor frozen = tg::tensor({1.0, 1.0});
  frozen.requires_grad_(true).requires_grad_(false);
  Tensor z = (frozen * w.narrow(0, 0, 2)).sum();
  z.backward();
  CHECK(!frozen.grad().defined());
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1, 1, 0});
  // y.backward(dy) for a non-scalar
  Tensor v = tg::tensor({1.0, 2.0});
  v.requires_grad_();
  Tensor y = v * v;
  y.backward(tg::tensor({1.0, 10.0}));
  CHECK(v.grad().to_vector<double>() == std::vector<double>{2, 40});
  // in-place on a leaf that requires grad is refused
  CHECK_THROWS_WITH_AS(v.add_(1.0), doctest::Contains("add_: in-place operation on a tensor that requires grad"), tg::Error);
  CHECK_THROWS_WITH_AS((v * 2.0).backward(), doctest::Contains("grad can be implicitly created only for scalar outputs"), tg::Error);
}

TEST_CASE("autograd: the graph is freed after backward, a second backward needs retain_graph") {
  const int64_t before = tg::autograd::Node::live_count();
  {
    Tensor x = rnd({4, 4}, 30);
    Tensor loss = tg::tanh(tg::matmul(x, x)).sum();
    CHECK(tg::autograd::Node::live_count() > before);
    loss.backward();
    CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("backward through the graph a second time"), tg::Error);
  }
  CHECK(tg::autograd::Node::live_count() == before);
  {
    Tensor x = rnd({3}, 31);
    Tensor loss = (tg::exp(x) * x).sum();
    loss.backward({}, /*retain_graph=*/true);
    const auto g1 = x.grad().to_vector<double>();
    loss.backward();
    const auto g2 = x.grad().to_vector<double>();
    for (size_t i = 0; i < g1.size(); ++i) CHECK(g2[i] == doctest::Approx(2 * g1[i]));
  }
  // A graph dropped without backward frees itself too.
  {
    Tensor x = rnd({8}, 32);
    Tensor y = tg::sigmoid(x * 3.0 + 1.0).sum();
  }
  CHECK(tg::autograd::Node::live_count() == before);
  // No gradient is computed for an input that needs none.
  Tensor a = rnd({3}, 33);
  Tensor k = tg::tensor({1.0, 2.0, 3.0});
  (a * k).sum().backward();
  CHECK(!k.grad().defined());
}

TEST_CASE("autograd: higher-order gradients") {
  // Hessian of f(x) = xᵀ A x is A + Aᵀ.
  Tensor A = tg::tensor({1.0, 2.0, 0.5, -1.0, 3.0, 4.0, 0.0, 2.0, -2.0}, {3, 3});
  Tensor x = tg::tensor({0.3, -0.7, 1.1});
  x.requires_grad_();
  Tensor f = tg::matmul(x, tg::matmul(A, x));
  Tensor g = tg::autograd::grad({f}, {x}, {.create_graph = true})[0];
  CHECK(g.requires_grad());
  std::vector<double> H;
  for (int i = 0; i < 3; ++i) {
    Tensor row = tg::autograd::grad({g.select(0, i)}, {x}, {.retain_graph = true})[0];
    for (double v : row.to_vector<double>()) H.push_back(v);
  }
  const auto AT = (A + A.t()).to_vector<double>();
  for (size_t i = 0; i < 9; ++i) CHECK(H[i] == doctest::Approx(AT[i]).epsilon(1e-14));

  // Hessian-vector product of s(x) = sum(tanh(W x)) against finite differences of the gradient.
  tg::Generator gen(40);
  Tensor W = tg::randn({4, 3}, gen, {.dtype = tg::kFloat64});
  Tensor x0 = tg::randn({3}, gen, {.dtype = tg::kFloat64});
  Tensor v = tg::randn({3}, gen, {.dtype = tg::kFloat64});
  auto grad_at = [&](const Tensor& xv, bool create) {
    Tensor xx = xv.detach().clone();
    xx.requires_grad_();
    Tensor s = tg::tanh(tg::matmul(W, xx)).sum();
    return std::make_pair(xx, tg::autograd::grad({s}, {xx}, {.create_graph = create})[0]);
  };
  auto [xx, gx] = grad_at(x0, true);
  Tensor hv = tg::autograd::grad({(gx * v).sum()}, {xx})[0];
  const double eps = 1e-5;
  Tensor fd = (grad_at(x0 + v * eps, false).second - grad_at(x0 - v * eps, false).second) / (2 * eps);
  CHECK(tgtest::max_abs_diff(hv, fd) < 1e-8);

  // Second derivative of tanh: d²/dx² tanh(x) = -2 tanh(x) (1 - tanh²(x)).
  Tensor t = tg::tensor({-1.3, 0.2, 0.9});
  t.requires_grad_();
  Tensor d1 = tg::autograd::grad({tg::tanh(t).sum()}, {t}, {.create_graph = true})[0];
  Tensor d2 = tg::autograd::grad({d1.sum()}, {t})[0];
  const auto tv = t.to_vector<double>(), d2v = d2.to_vector<double>();
  for (size_t i = 0; i < 3; ++i) {
    const double th = std::tanh(tv[i]);
    CHECK(d2v[i] == doctest::Approx(-2 * th * (1 - th * th)).epsilon(1e-13));
  }
  // Third derivative through exp/mul chains too: d³/dx³ (x³) = 6.
  Tensor c = tg::tensor({2.0});
  c.requires_grad_();
  Tensor c1 = tg::autograd::grad({(c * c * c).sum()}, {c}, {.create_graph = true})[0];
  Tensor c2 = tg::autograd::grad({c1.sum()}, {c}, {.create_graph = true})[0];
  Tensor c3 = tg::autograd::grad({c2.sum()}, {c})[0];
  CHECK(c1.item<double>() == 12);
  CHECK(c2.item<double>() == 12);
  CHECK(c3.item<double>() == 6);
}

TEST_CASE("autograd: anomaly mode names the op whose backward produced NaN/Inf") {
  Tensor x = tg::tensor({0.0, 1.0});
  x.requires_grad_();
  {
    tg::autograd::DetectAnomalyGuard guard;
    Tensor y = tg::sqrt(x).sum();
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("anomaly: the backward of 'sqrt' produced NaN or Inf"), tg::Error);
  }
  Tensor y = tg::sqrt(x).sum();
  y.backward();  // without anomaly mode: inf silently, like PyTorch
  CHECK(std::isinf(x.grad().to_vector<double>()[0]));
}

TEST_CASE("autograd: a tensor saved for backward and modified in place is detected") {
  Tensor x = rnd({3}, 50);
  Tensor e;
  Tensor y;
  {
    y = tg::exp(x);
    e = y;
  }
  Tensor loss = (y * 2.0).sum();
  {
    tg::NoGradGuard g;
    tg::Tensor alias = e.detach();
    alias.mul_(3.0);
  }
  // exp saved its output; mul by a scalar saved nothing, so backward reaches exp's saved output.
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("modified by an in-place operation"), tg::Error);
}

TEST_CASE("autograd: the tape prints in execution order and exports DOT") {
  Tensor a = tg::tensor({1.0, 2.0});
  a.requires_grad_();
  Tensor b = tg::tensor({3.0, 4.0});
  b.requires_grad_();
  Tensor ab = a * b;  // kept alive, so the verbose tape can show its values
  Tensor loss = tg::tanh(ab + a).sum();
  auto tp = tg::autograd::tape(loss);
  REQUIRE(tp.entries.size() == 4);
  CHECK(tp.entries[0].op == "mul");
  CHECK(tp.entries[1].op == "add");
  CHECK(tp.entries[2].op == "tanh");
  CHECK(tp.entries[3].op == "sum");
  std::ostringstream os;
  os << tp;
  CHECK(os.str().find("mul(leaf:[2], leaf:[2]) -> [2]") != std::string::npos);
  // verbose: values of live outputs and, after backward, leaf gradients
  loss.backward({}, /*retain_graph=*/true);
  std::ostringstream vs;
  vs << tg::autograd::tape(loss, /*verbose=*/true);
  CHECK(vs.str().find("value: tensor([3.0000, 8.0000]") != std::string::npos);       // a*b
  CHECK(vs.str().find("grad of leaf input 0: tensor([") != std::string::npos);
  const std::string dot = tg::autograd::to_dot(loss);
  CHECK(dot.find("digraph tape") != std::string::npos);
  CHECK(dot.find("tanh") != std::string::npos);
}

TEST_CASE("autograd: the tape prints an absent optional input as none, not as a constant") {
  Tensor x = tg::tensor({1.0, 2.0}).view({1, 2});
  Tensor w = tg::tensor({3.0, 4.0}).view({1, 2});
  w.requires_grad_();
  Tensor y = tg::linear(x, w);  // no bias
  std::ostringstream os;
  os << tg::autograd::tape(y);
  CHECK(os.str().find("linear(const:[1,2], leaf:[1,2], none) -> [1,1]") != std::string::npos);
}
