// nn edge cases found by review (session 11), each against PyTorch 1.13's
// values (or a hand-derived formula): ignored targets with -inf/NaN logits,
// nll_loss with every target ignored, binary_cross_entropy's gradient at
// p = 0 and 1, weight tying through register_parameter, BatchNorm / LayerNorm
// dtype errors that leave the running statistics alone, module cycles; and
// (second review) frozen-parameter tying, BCE weight/pos_weight shapes and the
// bce_with_logits target gradient, cycles through Sequential/ModuleList::replace.
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
  // any leaf is registered as itself, requires_grad set on it (LibTorch's register_parameter);
  // only the result of an op is detached into a fresh leaf
  struct P : nn::Module {
    Tensor p;
    explicit P(const Tensor& t) : Module("P") { p = register_parameter("p", t); }
  };
  Tensor plain = tg::ones({2});
  P mp(plain);
  CHECK(mp.p.impl() == plain.impl());
  CHECK(plain.requires_grad());
  Tensor src = tg::ones({2}).requires_grad_();
  const Tensor made = src * 2.0;
  P mq(made);
  CHECK(mq.p.impl() != made.impl());
  CHECK(mq.p.is_leaf());
  CHECK(mq.p.requires_grad());
  CHECK(mq.p.to_vector<float>() == std::vector<float>{2.0f, 2.0f});
}

namespace {
// The common fine-tuning order: freeze the encoder, then tie its weight.
struct TiedFrozen : nn::Module {
  std::shared_ptr<nn::Linear> enc;
  Tensor w;
  TiedFrozen() : Module("TiedFrozen") {
    enc = register_module("enc", std::make_shared<nn::Linear>(nn::LinearOptions{.in = 2, .out = 2, .bias = false}));
    enc->requires_grad_(false);
    w = register_parameter("dec_weight", enc->weight, false);
  }
};
}  // namespace

TEST_CASE("register_parameter of a frozen parameter ties it too: listed once, tied after unfreezing and to()") {
  TiedFrozen m;
  CHECK(m.named_parameters().size() == 1);  // was 2: a detached alias sharing the storage
  CHECK(m.w.impl() == m.enc->weight.impl());
  CHECK_FALSE(m.w.requires_grad());
  m.requires_grad_(true);
  CHECK(m.parameters().size() == 1);
  CHECK(m.enc->weight.requires_grad());
  m.to(tg::kFloat64);  // an alias was left float32 and untied here
  CHECK(m.enc->weight.dtype() == tg::kFloat64);
  {
    tg::NoGradGuard ng;
    m.w.fill_(7.0);
  }
  CHECK(m.enc->weight.to_vector<double>() == std::vector<double>(4, 7.0));
  // one gradient, through both uses
  const Tensor x = tg::tensor(std::vector<double>{1, 2}, {1, 2});
  (m.enc->forward(x).sum() + tg::linear(x, m.w).sum()).backward();
  CHECK(m.enc->weight.grad().to_vector<double>() == std::vector<double>{2, 4, 2, 4});
}

TEST_CASE("binary_cross_entropy(_with_logits): weight / pos_weight shapes checked up front, float64 weight converted") {
  using R = nn::Reduction;
  const Tensor x = tg::tensor({0.3f, -1.2f}), t = tg::tensor({1.0f, 0.0f}), p = tg::tensor({0.3f, 0.6f});
  // a weight that broadcasts beyond the input: PyTorch raises; was a [3,2] loss (sum 3x too large)
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy_with_logits(x, t, {.weight = tg::ones({3, 1}), .reduction = R::Sum}),
                       "binary_cross_entropy_with_logits: weight of shape [3,1] does not broadcast to the input's shape [2]",
                       tg::Error);
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy(p, t, {.weight = tg::ones({3, 1}), .reduction = R::None}),
                       "binary_cross_entropy: weight of shape [3,1] does not broadcast to the input's shape [2]",
                       tg::Error);
  // not broadcastable at all: was "mul: shapes [2] and [3] cannot broadcast"
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy(p, t, {.weight = tg::ones({3})}),
                       "binary_cross_entropy: weight of shape [3] does not broadcast to the input's shape [2]",
                       tg::Error);
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy_with_logits(x, t, {.weight = tg::ones({3})}),
                       "binary_cross_entropy_with_logits: weight of shape [3] does not broadcast to the input's shape [2]",
                       tg::Error);
  const Tensor x2 = tg::tensor({0.3f, -1.2f, 2.5f, -0.7f}, {2, 2}), t2 = tg::tensor({1.0f, 0.0f, 0.25f, 0.6f}, {2, 2});
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy_with_logits(x2, t2, {.pos_weight = tg::ones({3})}),
                       "binary_cross_entropy_with_logits: pos_weight of shape [3] does not broadcast to the input's "
                       "shape [2,2]",
                       tg::Error);
  CHECK_THROWS_WITH_AS(F::binary_cross_entropy_with_logits(x2, t2, {.pos_weight = tg::ones({3, 1, 1})}),
                       doctest::Contains("pos_weight of shape [3,1,1] does not broadcast"), tg::Error);
  // broadcastable ones work (PyTorch 1.13: 1.1029783487)
  CHECK(F::binary_cross_entropy_with_logits(x2, t2, {.pos_weight = tg::tensor({3.0f, 0.5f})}).item<float>() ==
        doctest::Approx(1.1029783487).epsilon(1e-6));
  CHECK(F::binary_cross_entropy_with_logits(x2, t2, {.weight = tg::ones({2, 1}), .reduction = R::None}).shape() ==
        tg::Shape{2, 2});
  // a float64 weight on a float32 input (PyTorch: 1.5182771683 mean; none [1.2039728165, 1.8325816393])
  const Tensor w64 = tg::tensor(std::vector<double>{1, 2}, {2});
  const Tensor bm = F::binary_cross_entropy(p, t, {.weight = w64});  // was "mul: dtypes float32 and float64 differ"
  CHECK(bm.dtype() == tg::kFloat32);
  CHECK(bm.item<float>() == doctest::Approx(1.5182771683).epsilon(1e-6));
  const auto bn = F::binary_cross_entropy(p, t, {.weight = w64, .reduction = R::None}).to_vector<float>();
  CHECK(bn[0] == doctest::Approx(1.2039728165).epsilon(1e-6));
  CHECK(bn[1] == doctest::Approx(1.8325816393).epsilon(1e-6));
  const auto ln = F::binary_cross_entropy_with_logits(x, t, {.weight = w64, .reduction = R::None}).to_vector<float>();
  CHECK(ln[0] == doctest::Approx(0.5543552637).epsilon(1e-6));
  CHECK(ln[1] == doctest::Approx(0.5265648961).epsilon(1e-6));
}

TEST_CASE("binary_cross_entropy_with_logits: the target gets PyTorch's gradient (was silently dropped)") {
  // PyTorch 1.13, float64: loss and gradients of x and t for weight / pos_weight, mean and sum
  struct Case {
    bool w, pw;
    nn::Reduction r;
    double loss;
    std::vector<double> dx, dt;
  };
  using R = nn::Reduction;
  const std::vector<Case> cases = {
      {false, false, R::Mean, 0.8986783737461415,
       {-0.10638937079708524, 0.057868804125245595, 0.16853545499468914, -0.06704694304204152},
       {-0.075, 0.3, -0.625, 0.175}},
      {false, false, R::Sum, 3.594713494984566,
       {-0.42555748318834097, 0.23147521650098238, 0.6741418199787566, -0.2681877721681661},
       {-0.3, 1.2, -2.5, 0.7}},
      {true, false, R::Mean, 0.8231610299047628,
       {-0.10638937079708524, 0.11573760825049119, 0.08426772749734457, -0.10057041456306229},
       {-0.075, 0.6, -0.3125, 0.26249999999999996}},
      {false, true, R::Mean, 1.3413339033132239,
       {-0.31916811239125575, 0.057868804125245595, 0.16853545499468914, -0.16727510886726643},
       {0.20217762223426355, 0.11708969158274608, -0.625, 0.45079651222136446}},
      {true, true, R::Sum, 5.394222052553018,
       {-1.276672449565023, 0.46295043300196476, 0.3370709099893783, -1.0036506532035987},
       {0.8087104889370542, 0.9367175326619687, -1.25, 2.704779073328187}},
  };
  const Tensor w = tg::tensor(std::vector<double>{1.0, 2.0, 0.5, 1.5}, {4});
  const Tensor pw = tg::tensor(std::vector<double>{3.0, 0.5, 1.0, 2.0}, {4});
  for (const Case& c : cases) {
    Tensor x = tg::tensor(std::vector<double>{0.3, -1.2, 2.5, -0.7}, {4}, true);
    Tensor t = tg::tensor(std::vector<double>{1.0, 0.0, 0.25, 0.6}, {4}, true);
    const Tensor l = F::binary_cross_entropy_with_logits(
        x, t, {.weight = c.w ? w : Tensor(), .pos_weight = c.pw ? pw : Tensor(), .reduction = c.r});
    CHECK(l.item<double>() == doctest::Approx(c.loss).epsilon(1e-12));
    l.backward();
    REQUIRE(t.grad().defined());  // was undefined: the target was detached
    const auto dx = x.grad().to_vector<double>(), dt = t.grad().to_vector<double>();
    for (size_t i = 0; i < 4; ++i) {
      CHECK(dx[i] == doctest::Approx(c.dx[i]).epsilon(1e-12));
      CHECK(dt[i] == doctest::Approx(c.dt[i]).epsilon(1e-12));
    }
  }
  // only the target requires grad
  Tensor t = tg::tensor(std::vector<double>{1.0, 0.0, 0.25, 0.6}, {4}, true);
  F::binary_cross_entropy_with_logits(tg::tensor(std::vector<double>{0.3, -1.2, 2.5, -0.7}, {4}), t,
                                      {.reduction = R::Sum})
      .backward();
  CHECK(t.grad().to_vector<double>() == std::vector<double>{-0.3, 1.2, -2.5, 0.7});
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

TEST_CASE("Sequential::replace / ModuleList::replace: a replacement that contains the container is an error") {
  auto outer = std::make_shared<nn::Sequential>();
  outer->push_back(std::make_shared<nn::Linear>(2, 2));
  auto inner = std::make_shared<nn::Sequential>();
  inner->push_back(std::make_shared<nn::ReLU>());
  outer->push_back(inner);
  // was accepted, and parameters() then recursed without end
  CHECK_THROWS_WITH_AS(inner->replace(0, outer),
                       "Sequential::replace: the replacement for module 0 contains this module; it would make a cycle",
                       tg::Error);
  CHECK_THROWS_WITH_AS(outer->replace(-1, outer),
                       "Sequential::replace: the replacement for module 1 contains this module; it would make a cycle",
                       tg::Error);
  CHECK(inner->at<nn::ReLU>(0) != nullptr);
  CHECK(outer->parameters().size() == 2);
  auto ml = std::make_shared<nn::ModuleList>();
  ml->push_back(std::make_shared<nn::ReLU>());
  CHECK_THROWS_WITH_AS(ml->replace(0, ml),
                       "ModuleList::replace: the replacement for module 0 contains this module; it would make a cycle",
                       tg::Error);
  auto holder = std::make_shared<nn::Sequential>();
  holder->push_back(ml);
  CHECK_THROWS_WITH_AS(ml->replace(-1, holder), doctest::Contains("it would make a cycle"), tg::Error);
  // a valid replacement still works
  ml->replace(0, std::make_shared<nn::Linear>(2, 3));
  CHECK(holder->named_parameters().size() == 2);
  CHECK(holder->named_parameters()[0].first == "0.0.weight");
}
