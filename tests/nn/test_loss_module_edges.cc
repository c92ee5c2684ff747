// nn edge cases found by review (session 11), each against PyTorch 1.13's
// values (or a hand-derived formula): ignored targets with -inf/NaN logits,
// nll_loss with every target ignored, binary_cross_entropy's gradient at
// p = 0 and 1, weight tying through register_parameter, BatchNorm / LayerNorm
// dtype errors that leave the running statistics alone, module cycles.
#include <cmath>
#include <memory>

#include "../common/test_util.h"

using tg::Tensor;
namespace nn = tg::nn;
namespace F = tg::F;

TEST_CASE("cross_entropy / nll_loss: an ignored row with -inf or NaN logits contributes 0 (was NaN)") {
  const float inf = INFINITY;
  const Tensor x = tg::tensor({-inf, 1.0f, 2.0f, 0.5f, 0.1f, 0.3f}, {2, 3});
  const Tensor t = tg::tensor(std::vector<int64_t>{-100, 1}, {2});
  const double lse = std::log(std::exp(0.5) + std::exp(0.1) + std::exp(0.3));
  const double row1 = lse - 0.1;  // PyTorch: 1.3119
  CHECK(F::cross_entropy(x, t).item<float>() == doctest::Approx(row1).epsilon(1e-6));
  const auto none = F::cross_entropy(x, t, {.reduction = nn::Reduction::None}).to_vector<float>();
  CHECK(none[0] == 0.0f);
  CHECK(none[1] == doctest::Approx(row1).epsilon(1e-6));
  // label smoothing 0.1: (0.9 (lse - x_t) + 0.1 / 3 Σ_c (lse - x_c)), PyTorch 1.2919
  const double smooth = 0.9 * row1 + 0.1 / 3 * (3 * lse - 0.9);
  CHECK(F::cross_entropy(x, t, {.label_smoothing = 0.1}).item<float>() == doctest::Approx(smooth).epsilon(1e-6));
  CHECK(F::nll_loss(tg::log_softmax(x, 1), t).item<float>() == doctest::Approx(row1).epsilon(1e-6));
  const Tensor xn = tg::tensor({NAN, NAN, NAN, 0.5f, 0.1f, 0.3f}, {2, 3});
  CHECK(F::cross_entropy(xn, t).item<float>() == doctest::Approx(row1).epsilon(1e-6));
  CHECK(F::nll_loss(xn, t).item<float>() == doctest::Approx(-0.1).epsilon(1e-6));
}

TEST_CASE("nll_loss: every target ignored gives a NaN mean but a zero gradient (as PyTorch)") {
  Tensor x = tg::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3}).requires_grad_();
  const Tensor t = tg::tensor(std::vector<int64_t>{-100, -100}, {2});
  Tensor l = F::nll_loss(x, t);
  CHECK(std::isnan(l.item<float>()));
  l.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>(6, 0.0f));  // was NaN in the target column
  Tensor y = tg::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3}).requires_grad_();
  Tensor c = F::cross_entropy(y, t);
  CHECK(std::isnan(c.item<float>()));
  c.backward();
  CHECK(y.grad().to_vector<float>() == std::vector<float>(6, 0.0f));
  // zero class weights on kept targets: NaN loss and NaN gradient, as PyTorch (0 / 0)
  Tensor z = tg::tensor({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}).requires_grad_();
  Tensor cw = F::cross_entropy(z, tg::tensor(std::vector<int64_t>{0, 0}, {2}), {.weight = tg::tensor({0.0f, 1.0f})});
  CHECK(std::isnan(cw.item<float>()));
  cw.backward();
  for (float g : z.grad().to_vector<float>()) CHECK(std::isnan(g));
}

TEST_CASE("binary_cross_entropy: PyTorch's gradient at p = 0 and 1, and the target's gradient") {
  // sigmoid(20) is exactly 1 in float32: a right answer had a NaN gradient
  Tensor x = tg::tensor({20.0f, -3.0f}).requires_grad_();
  F::binary_cross_entropy(tg::sigmoid(x), tg::tensor({1.0f, 0.0f})).backward();
  const auto g = x.grad().to_vector<float>();
  CHECK(g[0] == 0.0f);
  CHECK(g[1] == doctest::Approx(1.0 / (1.0 + std::exp(3.0)) / 2).epsilon(1e-5));  // σ(-3) / 2, PyTorch 0.0237
  // dp = (p - t) / max(p (1 - p), 1e-12), dt = log(1 - p) - log p (PyTorch 1.13, reduction sum)
  Tensor p = tg::tensor(std::vector<double>{0, 0, 1, 1, 1e-50, 0.3}, {6}, true);
  Tensor t = tg::tensor(std::vector<double>{1, 0.3, 0, 0.7, 1, 0.2}, {6}, true);
  const Tensor l = F::binary_cross_entropy(p, t, {.reduction = nn::Reduction::Sum});
  CHECK(l.item<double>() == doctest::Approx(100 + 30 + 100 + 30 + 100 * 1 + -(0.2 * std::log(0.3) + 0.8 * std::log(0.7))));
  l.backward();
  const auto dp = p.grad().to_vector<double>(), dt = t.grad().to_vector<double>();
  const std::vector<double> want = {-1e12, -3e11, 1e12, 3e11, (1e-50 - 1) / 1e-12, 0.1 / 0.21};
  for (size_t i = 0; i < want.size(); ++i) CHECK(dp[i] == doctest::Approx(want[i]).epsilon(1e-12));
  CHECK(dt[0] == INFINITY);
  CHECK(dt[2] == -INFINITY);
  CHECK(dt[5] == doctest::Approx(std::log(0.7) - std::log(0.3)).epsilon(1e-12));
}

namespace {
struct Tied : nn::Module {
  std::shared_ptr<nn::Linear> a;
  Tensor w;
  Tied() : Module("Tied") {
    a = register_module("a", std::make_shared<nn::Linear>(nn::LinearOptions{.in = 2, .out = 2, .bias = false}));
    w = register_parameter("w", a->weight);  // weight tying
  }
};
}  // namespace

TEST_CASE("register_parameter of an existing parameter ties it: listed once, one gradient, tied after to()") {
  Tied m;
  CHECK(m.named_parameters().size() == 1);  // was 2 (a detached alias under the second name)
  CHECK(m.num_parameters() == 4);
  CHECK(m.w.impl() == m.a->weight.impl());
  m.to(tg::kFloat64);
  CHECK(m.w.dtype() == tg::kFloat64);
  {
    tg::NoGradGuard ng;
    m.a->weight.fill_(3.0);
  }
  CHECK(m.w.to_vector<double>() == std::vector<double>(4, 3.0));
  // a fresh tensor is still registered as a new leaf
  Tensor plain = tg::ones({2});
  struct P : nn::Module {
    Tensor p;
    explicit P(const Tensor& t) : Module("P") { p = register_parameter("p", t); }
  } mp(plain);
  CHECK(mp.p.requires_grad());
  CHECK_FALSE(plain.requires_grad());
}

TEST_CASE("BatchNorm / LayerNorm: a wrong input dtype is named and leaves the running statistics alone") {
  nn::BatchNorm1d bn(2);
  const Tensor x = tg::tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK_THROWS_WITH_AS(bn.forward(x),
                       doctest::Contains("batch_norm: the input is float64 but the weights / running statistics are float32"),
                       tg::Error);
  CHECK(bn.running_mean.to_vector<float>() == std::vector<float>{0.0f, 0.0f});  // was [0.3, 0.4]
  CHECK(bn.num_batches_tracked.item<int64_t>() == 0);  // was 1
  CHECK_THROWS_WITH_AS(F::batch_norm(x, Tensor(), Tensor(), tg::ones({2}), Tensor(), true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: the input is float64 but the weights / running statistics are float32"),
                       tg::Error);
  nn::LayerNorm ln(nn::LayerNormOptions{.normalized_shape = {2}});
  CHECK_THROWS_WITH_AS(ln.forward(x), doctest::Contains("layer_norm: the input is float64 but weight/bias are float32"),
                       tg::Error);
}

TEST_CASE("modules: a child that contains its parent is an error (a cycle, walks recursed without end)") {
  auto a = std::make_shared<nn::Sequential>(), b = std::make_shared<nn::Sequential>();
  a->push_back(b);
  CHECK_THROWS_WITH_AS(b->push_back(a), doctest::Contains("adding it would make a cycle"), tg::Error);
  auto c = std::make_shared<nn::Sequential>();
  c->push_back(a);
  CHECK_THROWS_WITH_AS(b->push_back(c), doctest::Contains("adding it would make a cycle"), tg::Error);
  CHECK(c->named_parameters().empty());
}
