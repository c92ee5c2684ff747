// nn layers and losses against PyTorch (tests/reference/layers.json, float64):
// each layer is built from the stored options, given the stored parameters and
// buffers, run forward and backward with the stored dy, and compared on the
// output, grad_input, grad_params and BatchNorm's buffers_after. Then
// float64 gradchecks (conv2d with groups/dilation/stride/padding, second order
// through conv and pools, pools, norms, losses), train/eval behaviour
// (Dropout, BatchNorm), init bounds, and error messages.
#include <functional>
#include <map>

#include "../common/test_util.h"
#include "tensor/raw.h"

using tg::Shape;
using tg::Tensor;
using tg::autograd::gradcheck;
namespace nn = tg::nn;
namespace F = tg::nn::functional;

namespace {

std::vector<int64_t> ints(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }
nn::Size2 size2(const nlohmann::json& j) { return {j[0].get<int64_t>(), j[1].get<int64_t>()}; }

std::shared_ptr<nn::Module> build_layer(const nlohmann::json& e) {
  const std::string L = e["layer"];
  const auto& o = e["options"];
  if (L == "Linear")
    return std::make_shared<nn::Linear>(nn::LinearOptions{
        .in = o["in_features"], .out = o["out_features"], .bias = o["bias"].get<bool>()});
  if (L == "Conv2d")
    return std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = o["in_channels"],
                                                          .out = o["out_channels"],
                                                          .kernel = size2(o["kernel_size"]),
                                                          .stride = size2(o["stride"]),
                                                          .padding = size2(o["padding"]),
                                                          .dilation = size2(o["dilation"]),
                                                          .groups = o["groups"],
                                                          .bias = o["bias"].get<bool>()});
  if (L == "MaxPool2d")
    return std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions{
        .kernel = size2(o["kernel_size"]), .stride = size2(o["stride"]), .padding = size2(o["padding"])});
  if (L == "AvgPool2d")
    return std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions{.kernel = size2(o["kernel_size"]),
                                                                .stride = size2(o["stride"]),
                                                                .padding = size2(o["padding"]),
                                                                .count_include_pad = o["count_include_pad"]});
  if (L == "ReLU") return std::make_shared<nn::ReLU>();
  if (L == "LeakyReLU") return std::make_shared<nn::LeakyReLU>(o["negative_slope"].get<double>());
  if (L == "GELU")
    return std::make_shared<nn::GELU>(o["approximate"] == "tanh" ? tg::GeluApprox::Tanh : tg::GeluApprox::None);
  if (L == "Sigmoid") return std::make_shared<nn::Sigmoid>();
  if (L == "Tanh") return std::make_shared<nn::Tanh>();
  if (L == "Softmax") return std::make_shared<nn::Softmax>(o["dim"].get<int64_t>());
  if (L == "LogSoftmax") return std::make_shared<nn::LogSoftmax>(o["dim"].get<int64_t>());
  if (L == "BatchNorm1d" || L == "BatchNorm2d") {
    nn::BatchNormOptions bo{.num_features = o["num_features"],
                            .eps = o["eps"],
                            .momentum = o["momentum"],
                            .affine = o["affine"],
                            .track_running_stats = o["track_running_stats"]};
    if (L == "BatchNorm1d") return std::make_shared<nn::BatchNorm1d>(bo);
    return std::make_shared<nn::BatchNorm2d>(bo);
  }
  if (L == "LayerNorm")
    return std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{.normalized_shape = Shape(ints(o["normalized_shape"])),
                                                                .eps = o["eps"],
                                                                .elementwise_affine = o["elementwise_affine"]});
  if (L == "Embedding")
    return std::make_shared<nn::Embedding>(o["num_embeddings"].get<int64_t>(), o["embedding_dim"].get<int64_t>());
  return nullptr;
}

tg::nn::Reduction reduction(const nlohmann::json& o) {
  const std::string r = o.value("reduction", "mean");
  return r == "none" ? nn::Reduction::None : r == "sum" ? nn::Reduction::Sum : nn::Reduction::Mean;
}

Tensor apply_loss(const nlohmann::json& e, const Tensor& x) {
  const std::string L = e["loss"];
  const auto& o = e["options"];
  const auto r = reduction(o);
  const Tensor w = o.contains("weight") ? tgtest::from_json(o["weight"]) : Tensor();
  if (L == "cross_entropy" || L == "nll_loss") {
    const Tensor t = tgtest::from_json(e["target"], tg::kInt64);
    const int64_t ii = o.value("ignore_index", int64_t(-100));
    if (L == "nll_loss") return F::nll_loss(x, t, {.weight = w, .ignore_index = ii, .reduction = r});
    return F::cross_entropy(
        x, t, {.weight = w, .ignore_index = ii, .reduction = r, .label_smoothing = o.value("label_smoothing", 0.0)});
  }
  const Tensor t = tgtest::from_json(e["target"]);
  if (L == "mse_loss") return F::mse_loss(x, t, r);
  if (L == "l1_loss") return F::l1_loss(x, t, r);
  if (L == "smooth_l1_loss") return F::smooth_l1_loss(x, t, r, o["beta"].get<double>());
  if (L == "huber_loss") return F::huber_loss(x, t, r, o["delta"].get<double>());
  if (L == "binary_cross_entropy_with_logits")
    return F::binary_cross_entropy_with_logits(
        x, t, {.pos_weight = o.contains("pos_weight") ? tgtest::from_json(o["pos_weight"]) : Tensor(), .reduction = r});
  if (L == "binary_cross_entropy") return F::binary_cross_entropy(x, t, {.weight = w, .reduction = r});
  return Tensor();
}

bool gc(const tg::autograd::GradcheckFn& fn, const std::vector<Tensor>& in) {
  auto r = gradcheck(fn, in);
  if (!r.ok) MESSAGE(r.report);
  return r.ok;
}

// Second order for a layer op(x, w, b): the gradients of <op(x, w, b), v> w.r.t.
// x and w, recorded with create_graph, folded into a scalar whose own gradient
// gradcheck compares with finite differences.
bool gc_second_order(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& op, const Tensor& v,
                     const std::vector<Tensor>& xwb) {
  return gc(
      [&](const std::vector<Tensor>& in) {
        tg::EnableGradGuard eg;  // gradcheck's finite differences run under no-grad
        Tensor y = (op(in[0], in[1], in[2]) * v).sum();
        auto gr = tg::autograd::grad({y}, {in[0], in[1]}, {.create_graph = true});
        return (gr[0] * gr[0] * in[0]).sum() + (gr[1] * gr[1] * gr[1]).sum();
      },
      xwb);
}

// Sequential's fused output ys (its node named `fused`) against the same
// layers op by op (unfused(), ending in a ReLU): the same values and the same
// parameter gradients, bit for bit.
void check_fusion(const Tensor& ys, const char* fused, const std::vector<Tensor>& params,
                  const std::function<Tensor()>& unfused) {
  REQUIRE(ys.impl()->meta);
  CHECK(std::string(ys.impl()->meta->grad_fn->name) == fused);
  ys.sum().backward();
  std::vector<std::vector<float>> grads;
  for (Tensor p : params) {
    grads.push_back(p.grad().to_vector<float>());
    p.set_grad(Tensor());
  }
  const Tensor yu = unfused();
  CHECK(std::string(yu.impl()->meta->grad_fn->name) == "relu");
  CHECK(ys.to_vector<float>() == yu.to_vector<float>());
  yu.sum().backward();
  for (size_t k = 0; k < params.size(); ++k) CHECK(grads[k] == params[k].grad().to_vector<float>());
}

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  tg::Generator g(seed);
  return tg::uniform(s, lo, hi, g, {.dtype = tg::kFloat64}).requires_grad_();
}

}  // namespace

TEST_CASE("nn layers: forward, grad_input, grad_params and buffers match PyTorch (layers.json)") {
  const auto ref = tgtest::load_json("layers.json");
  int checked = 0;
  double max_err = 0;
  for (const auto& e : ref["layers"]) {
    const std::string name = e["name"];
    CAPTURE(name);
    auto m = build_layer(e);
    REQUIRE_MESSAGE(m, "layer type not built: " << e["layer"]);
    m->to(tg::kFloat64);
    {
      tg::NoGradGuard ng;
      for (auto& [pn, p] : m->named_parameters()) {
        REQUIRE_MESSAGE(e["params"].contains(pn), "PyTorch has no parameter " << pn);
        p.copy_(tgtest::from_json(e["params"][pn]));
      }
      CHECK(m->named_parameters().size() == e["params"].size());
      for (auto& [bn, b] : m->named_buffers()) {
        REQUIRE(e["buffers_before"].contains(bn));
        b.copy_(tgtest::from_json(e["buffers_before"][bn], b.dtype()));
      }
    }
    if (e["mode"] == "eval") m->eval();
    const bool int_input = e["layer"] == "Embedding";
    Tensor x = tgtest::from_json(e["input"], int_input ? tg::kInt64 : tg::kFloat64);
    if (!int_input) x.requires_grad_();
    Tensor y = m->forward(x);
    auto track = [&](double d) {
      max_err = std::max(max_err, d);
      return d;
    };
    CHECK(track(tgtest::max_abs_diff(y, tgtest::from_json(e["output"]))) < 1e-10);
    y.backward(tgtest::from_json(e["dy"]));
    if (!int_input) CHECK(track(tgtest::max_abs_diff(x.grad(), tgtest::from_json(e["grad_input"]))) < 1e-10);
    for (auto& [pn, p] : m->named_parameters()) {
      CAPTURE(pn);
      REQUIRE(p.grad().defined());
      CHECK(track(tgtest::max_abs_diff(p.grad(), tgtest::from_json(e["grad_params"][pn]))) < 1e-10);
    }
    for (auto& [bn, b] : m->named_buffers()) {
      CAPTURE(bn);
      CHECK(track(tgtest::max_abs_diff(b.to(tg::kFloat64), tgtest::from_json(e["buffers_after"][bn]))) < 1e-10);
    }
    ++checked;
  }
  MESSAGE("layers checked: " << checked << ", max abs error vs PyTorch: " << max_err);
  CHECK(checked == 28);
}

TEST_CASE("loss functions: output and input gradient match PyTorch (layers.json)") {
  const auto ref = tgtest::load_json("layers.json");
  int checked = 0;
  double max_err = 0;
  for (const auto& e : ref["losses"]) {
    const std::string name = e["name"];
    CAPTURE(name);
    Tensor x = tgtest::from_json(e["inputs"]["input"]).requires_grad_();
    Tensor y = apply_loss(e, x);
    REQUIRE_MESSAGE(y.defined(), "loss not supported: " << e["loss"]);
    const double d0 = tgtest::max_abs_diff(y, tgtest::from_json(e["output"]));
    CHECK(d0 < 1e-10);
    y.backward(tgtest::from_json(e["dy"]));
    const double d1 = tgtest::max_abs_diff(x.grad(), tgtest::from_json(e["grads"]["input"]));
    CHECK(d1 < 1e-10);
    max_err = std::max({max_err, d0, d1});
    ++checked;
  }
  MESSAGE("losses checked: " << checked << ", max abs error vs PyTorch: " << max_err);
  CHECK(checked == 45);
}

TEST_CASE("nn layer init: default bounds follow PyTorch (layers.json init_bounds)") {
  const auto ref = tgtest::load_json("layers.json");
  tg::Generator gen(1234);
  for (const auto& c : ref["init_bounds"]["cases"]) {
    const auto& s = c["shape"];
    std::shared_ptr<nn::Module> m;
    if (c["layer"] == "Linear") {
      m = std::make_shared<nn::Linear>(nn::LinearOptions{.in = s["in_features"], .out = s["out_features"]}, gen);
    } else {
      m = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = s["in_channels"],
                                                         .out = s["out_channels"],
                                                         .kernel = size2(s["kernel_size"]),
                                                         .groups = s["groups"]},
                                       gen);
    }
    const Tensor w = m->named_parameters()[0].second, b = m->named_parameters()[1].second;
    CHECK(w.shape() == Shape(ints(c["weight_shape"])));
    const auto [fi, fo] = nn::init::calculate_fan_in_and_fan_out(w);
    CHECK(fi == c["fan_in"].get<int64_t>());
    CHECK(fo == c["fan_out"].get<int64_t>());
    const double wb = c["weight_bound"], bb = c["bias_bound"];
    const double wmax = tg::abs(w).max().item_double(), bmax = tg::abs(b).max().item_double();
    CHECK(wmax <= wb);
    CHECK(bmax <= bb);
    // Enough draws to come close to the bound (PyTorch's observed absmax, same criterion).
    if (w.numel() >= 100) CHECK(wmax >= 0.9 * wb);
    CHECK(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, c["a"].get<double>()) ==
          doctest::Approx(c["gain"].get<double>()).epsilon(1e-15));
  }
  // The other initializers' spreads.
  Tensor t = tg::empty({400, 300});
  nn::init::kaiming_normal_(t, {.mode = nn::init::FanMode::FanOut, .nonlinearity = nn::init::Nonlinearity::ReLU}, gen);
  const double sd = std::sqrt(tg::var(t, {0, 1}).item_double());
  CHECK(sd == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
  nn::init::xavier_uniform_(t, 2.0, gen);
  CHECK(tg::abs(t).max().item_double() <= 2.0 * std::sqrt(6.0 / 700));
  CHECK(tg::abs(t).max().item_double() >= 0.99 * 2.0 * std::sqrt(6.0 / 700));
  nn::init::xavier_normal_(t, 1.0, gen);
  CHECK(std::sqrt(tg::var(t, {0, 1}).item_double()) == doctest::Approx(std::sqrt(2.0 / 700)).epsilon(0.02));
  nn::init::constant_(t, 0.5);
  CHECK(tg::min(t).item_double() == 0.5);
  // Same generator state, same weights.
  tg::Generator g1(7), g2(7);
  CHECK(tgtest::bit_equal(nn::Linear({.in = 20, .out = 10}, g1).weight, nn::Linear({.in = 20, .out = 10}, g2).weight));
  // BatchNorm/LayerNorm 1/0, Embedding N(0,1).
  nn::BatchNorm2d bn(3);
  CHECK(tg::min(bn.weight).item_double() == 1.0);
  CHECK(tg::max(tg::abs(bn.bias)).item_double() == 0.0);
  nn::Embedding emb(200, 50);
  CHECK(std::sqrt(tg::var(emb.weight, {0, 1}).item_double()) == doctest::Approx(1.0).epsilon(0.03));
}

TEST_CASE("nn gradcheck: conv2d (stride, padding, dilation, groups), first and second order") {
  struct Case {
    int64_t C, OC, k, s, p, d, g;
  };
  for (const Case c : {Case{2, 3, 3, 1, 0, 1, 1}, Case{2, 4, 3, 2, 1, 1, 2}, Case{4, 4, 2, 1, 2, 2, 4},
                       Case{3, 2, 3, 2, 1, 2, 1}}) {
    CAPTURE(c.g);
    CAPTURE(c.s);
    CAPTURE(c.d);
    Tensor x = rnd({2, c.C, 6, 5}, 1), w = rnd({c.OC, c.C / c.g, c.k, c.k}, 2), b = rnd({c.OC}, 3);
    const nn::Conv2dFuncOptions o{.stride = c.s, .padding = c.p, .dilation = c.d, .groups = c.g};
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::conv2d(v[0], v[1], v[2], o); }, {x, w, b}));
    // Second order: the gradient of <conv(x, w), v> w.r.t. x and w is itself differentiable.
    const Tensor v = rnd(F::conv2d(x, w, b, o).shape(), 4).detach();
    CHECK(gc(
        [&](const std::vector<Tensor>& in) {
          tg::EnableGradGuard eg;  // gradcheck's finite differences run under no-grad
          Tensor y = (F::conv2d(in[0], in[1], Tensor(), o) * v).sum();
          auto gr = tg::autograd::grad({y}, {in[0], in[1]}, {.create_graph = true});
          return (gr[0] * gr[0]).sum() + (gr[1] * gr[1] * gr[1]).sum() + (gr[0].sum() * in[0]).sum();
        },
        {x, w}));
  }
}

TEST_CASE("nn gradcheck: pools, norms, embedding, dropout") {
  // Distinct values keep max pooling away from ties.
  tg::Generator g(5);
  Tensor perm = tg::randperm(2 * 3 * 7 * 7, g).to(tg::kFloat64).reshape({2, 3, 7, 7}) * 0.01;
  Tensor xm = perm.detach().requires_grad_();
  for (bool ceil : {false, true}) {
    CHECK(gc([&](const std::vector<Tensor>& v) {
      return F::max_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = ceil});
    }, {xm}));
    for (bool cip : {true, false})
      CHECK(gc([&](const std::vector<Tensor>& v) {
        return F::avg_pool2d(v[0], {.kernel = {3, 2}, .stride = {2, 1}, .padding = 1, .ceil_mode = ceil,
                                    .count_include_pad = cip});
      }, {xm}));
  }
  // Second order through the pools (their backward is recorded too).
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor y = F::avg_pool2d(v[0], {.kernel = 2});
    auto gr = tg::autograd::grad({(y * y).sum()}, {v[0]}, {.create_graph = true});
    return gr[0] * gr[0];
  }, {xm}));
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor y = F::max_pool2d(v[0], {.kernel = 2});
    auto gr = tg::autograd::grad({(y * y * y).sum()}, {v[0]}, {.create_graph = true});
    return gr[0];
  }, {xm}));

  Tensor x = rnd({4, 3, 2, 2}, 6, -2, 2), w = rnd({3}, 7), b = rnd({3}, 8);
  CHECK(gc([&](const std::vector<Tensor>& v) {
    return F::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true);
  }, {x, w, b}));
  Tensor rm = tg::zeros({3}, {.dtype = tg::kFloat64}), rv = tg::ones({3}, {.dtype = tg::kFloat64}) * 2.0;
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::batch_norm(v[0], rm, rv, v[1], v[2], false); }, {x, w, b}));
  Tensor xl = rnd({2, 3, 4}, 9, -2, 2), wl = rnd({3, 4}, 10), bl = rnd({3, 4}, 11);
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::layer_norm(v[0], {3, 4}, v[1], v[2]); }, {xl, wl, bl}));
  Tensor we = rnd({6, 3}, 12);
  const Tensor idx = tg::tensor(std::vector<int64_t>{1, 5, 1, 0}, {2, 2});
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::embedding(idx, v[0]); }, {we}));
  Tensor xd = rnd({5, 6}, 13);
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::Generator gd(3);  // same mask for every evaluation
    return F::dropout(v[0], 0.3, true, gd);
  }, {xd}));
}

TEST_CASE("loss gradcheck: cross_entropy (all options), nll, bce, regression losses") {
  Tensor x = rnd({5, 4}, 21, -2, 2);
  const Tensor t = tg::tensor(std::vector<int64_t>{1, 0, 3, 3, 2});
  const Tensor w = tg::tensor({0.5, 1.5, 1.0, 2.0});
  for (auto r : {nn::Reduction::None, nn::Reduction::Mean, nn::Reduction::Sum}) {
    CHECK(gc([&](const std::vector<Tensor>& v) {
      return F::cross_entropy(v[0], t, {.weight = w, .ignore_index = 3, .reduction = r, .label_smoothing = 0.2});
    }, {x}));
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::cross_entropy(v[0], t, {.reduction = r}); }, {x}));
    CHECK(gc([&](const std::vector<Tensor>& v) {
      return F::nll_loss(tg::log_softmax(v[0], 1), t, {.weight = w, .ignore_index = 0, .reduction = r});
    }, {x}));
  }
  // cross_entropy's backward is differentiable (create_graph recomputes softmax on the tape).
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor l = F::cross_entropy(v[0], t, {.label_smoothing = 0.1});
    return tg::autograd::grad({l}, {v[0]}, {.create_graph = true})[0];
  }, {x}));
  Tensor z = rnd({3, 4}, 22, -3, 3), p = rnd({3, 4}, 23, 0.05, 0.95);
  const Tensor yt = rnd({3, 4}, 24, 0, 1).detach(), pw = tg::tensor({1.5, 0.5, 2.0, 1.0});
  CHECK(gc([&](const std::vector<Tensor>& v) {
    return F::binary_cross_entropy_with_logits(v[0], yt, {.weight = tg::tensor({2.0, 1.0, 1.0, 0.5}), .pos_weight = pw});
  }, {z}));
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::binary_cross_entropy(v[0], yt); }, {p}));
  CHECK(gc([&](const std::vector<Tensor>& v) {
    return F::binary_cross_entropy_with_logits(v[0], yt);
  }, {z}));
  // bce_with_logits differentiates its target too (first and second order, with weight and pos_weight)
  Tensor tz = rnd({3, 4}, 25, 0, 1);
  CHECK(gc([&](const std::vector<Tensor>& v) {
    return F::binary_cross_entropy_with_logits(v[0], v[1], {.weight = tg::tensor({2.0, 1.0, 1.0, 0.5}), .pos_weight = pw});
  }, {z, tz}));
  CHECK(gc([&](const std::vector<Tensor>& v) { return F::binary_cross_entropy_with_logits(v[0], v[1]); }, {z, tz}));
  CHECK(gc([&](const std::vector<Tensor>& v) {
    tg::EnableGradGuard eg;
    Tensor l = F::binary_cross_entropy_with_logits(v[0], v[1], {.pos_weight = pw, .reduction = nn::Reduction::Sum});
    auto g = tg::autograd::grad({l}, {v[0], v[1]}, {.create_graph = true});
    return (g[0] * g[0]).sum() + (g[1] * g[1] * v[0]).sum();
  }, {z, tz}));
  // Regression losses: |input - target| >= 0.1 everywhere keeps away from the kinks.
  Tensor a = tg::tensor({0.5, -1.2, 2.5, 0.3, -0.2, 1.7}, {2, 3}, true);
  Tensor b = tg::tensor({0.1, -0.4, 0.2, 0.9, 0.6, 1.5}, {2, 3}, true);
  for (auto r : {nn::Reduction::None, nn::Reduction::Mean, nn::Reduction::Sum}) {
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::mse_loss(v[0], v[1], r); }, {a, b}));
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::l1_loss(v[0], v[1], r); }, {a, b}));
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::smooth_l1_loss(v[0], v[1], r, 0.5); }, {a, b}));
    CHECK(gc([&](const std::vector<Tensor>& v) { return F::huber_loss(v[0], v[1], r, 0.7); }, {a, b}));
  }
}

TEST_CASE("loss cross_entropy: fused, stable, and PyTorch's reduction rules") {
  // Huge logits: no overflow.
  Tensor x = tg::tensor({1000.0, -1000.0, 0.0, 1e4, 1e4 - 1.0, -5.0}, {2, 3}, true);
  const Tensor t = tg::tensor(std::vector<int64_t>{0, 1});
  Tensor l = F::cross_entropy(x, t, {.reduction = nn::Reduction::None});
  CHECK(l.at<double>({0}) == doctest::Approx(0.0));
  CHECK(l.at<double>({1}) == doctest::Approx(1.0 + std::log(1 + std::exp(-1.0) + std::exp(-1e4 - 5))));
  // mean backward is (softmax - onehot) / N.
  Tensor m = F::cross_entropy(x, t);
  m.backward();
  const Tensor expect = (tg::softmax(x.detach(), 1) - tg::one_hot(t, 3).to(tg::kFloat64)) / 2.0;
  CHECK(tgtest::max_abs_diff(x.grad(), expect) < 1e-15);
  // ignore_index: mean over the non-ignored targets only; all ignored -> NaN (as in PyTorch).
  Tensor y = tg::tensor({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {2, 3});
  const double l0 = F::cross_entropy(y, t, {.reduction = nn::Reduction::None}).at<double>({0});
  CHECK(F::cross_entropy(y, t, {.ignore_index = 1}).item_double() == doctest::Approx(l0));
  CHECK(std::isnan(F::cross_entropy(y, tg::tensor(std::vector<int64_t>{1, 1}), {.ignore_index = 1}).item_double()));
  // Float32 works and gives the same as float64 to float precision.
  const double l32 = F::cross_entropy(y.to(tg::kFloat32), t).item_double();
  CHECK(l32 == doctest::Approx(F::cross_entropy(y, t).item_double()).epsilon(1e-6));
  // Errors.
  CHECK_THROWS_WITH_AS(F::cross_entropy(y, tg::tensor(std::vector<int64_t>{0, 3})),
                       "cross_entropy: target 3 at index 1 is out of range for 3 classes", tg::Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(y, tg::tensor(std::vector<int64_t>{0})),
                       "cross_entropy: expected target of shape [2], got [1]", tg::Error);
  CHECK_THROWS_AS(F::cross_entropy(y, tg::tensor({0.0, 1.0})), tg::Error);
  CHECK_THROWS_WITH_AS(F::mse_loss(y, tg::zeros({3, 2}, {.dtype = tg::kFloat64})),
                       "mse_loss: input shape [2,3] and target shape [3,2] differ", tg::Error);
}

TEST_CASE("nn layer modes: Dropout train/eval, seeds, thread independence") {
  nn::Dropout d({.p = 0.3, .seed = 42});
  const Tensor x = tg::ones({200, 500});
  Tensor y = d.forward(x);
  const auto v = y.to_vector<float>();
  int64_t zeros = 0;
  for (float f : v) {
    if (f == 0) ++zeros;
    else CHECK(f == doctest::Approx(1.0 / 0.7));
  }
  CHECK(double(zeros) / double(v.size()) == doctest::Approx(0.3).epsilon(0.02));
  // Same seed, same mask; the stream advances between calls.
  nn::Dropout d2({.p = 0.3, .seed = 42});
  CHECK(tgtest::bit_equal(d2.forward(x), y));
  CHECK(!tgtest::bit_equal(d2.forward(x), y));
  // Thread count does not change the mask.
  const int nt = tg::get_num_threads();
  tg::set_num_threads(1);
  nn::Dropout d3({.p = 0.3, .seed = 42});
  CHECK(tgtest::bit_equal(d3.forward(x), y));
  tg::set_num_threads(nt);
  // Eval is the identity (the same tensor).
  d.eval();
  CHECK(d.forward(x).is_same(x));
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), "Dropout: p must be in [0, 1], got 1.5", tg::Error);
  // p = 1 zeroes everything.
  CHECK(tg::max(F::dropout(x, 1.0, true)).item_double() == 0.0);
}

TEST_CASE("nn layer modes: BatchNorm uses batch stats in train, running stats in eval") {
  nn::BatchNorm1d bn(3);
  bn.to(tg::kFloat64);
  Tensor x = rnd({8, 3}, 31, -2, 3).detach();
  Tensor y = bn.forward(x);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  // Train output has zero mean per channel; running stats moved by momentum 0.1.
  CHECK(tg::max(tg::abs(tg::mean(y, {0}))).item_double() < 1e-12);
  const Tensor bm = tg::mean(x, {0}), bv = tg::var(x, {0}, 1);
  CHECK(tgtest::max_abs_diff(bn.running_mean, bm * 0.1) < 1e-15);
  CHECK(tgtest::max_abs_diff(bn.running_var, bv * 0.1 + 0.9) < 1e-15);
  // Eval: running stats, unchanged buffers, no batch dependence.
  bn.eval();
  const Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
  Tensor ye = bn.forward(x);
  const Tensor expect = (x - rm) / tg::sqrt(rv + 1e-5);
  CHECK(tgtest::max_abs_diff(ye, expect) < 1e-12);
  CHECK(tgtest::bit_equal(bn.running_mean, rm));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);
  CHECK(tgtest::max_abs_diff(bn.forward(x.narrow(0, 0, 1)), expect.narrow(0, 0, 1)) < 1e-12);
  // Training needs more than one value per channel.
  bn.train();
  CHECK_THROWS_WITH_AS(bn.forward(x.narrow(0, 0, 1)),
                       "batch_norm: expected more than 1 value per channel when training, got input shape [1,3]",
                       tg::Error);
  // Without running stats: batch stats in eval too, no buffers.
  nn::BatchNorm2d nb({.num_features = 2, .track_running_stats = false});
  CHECK(nb.named_buffers().empty());
  nb.eval();
  Tensor y2 = nb.forward(tg::randn({3, 2, 2, 2}));
  CHECK(tg::max(tg::abs(tg::mean(y2, {0, 2, 3}))).item_double() < 1e-5);
}

TEST_CASE("BatchNorm in training: an empty batch gives an empty output, the running stats unchanged (as PyTorch)") {
  // PyTorch 1.13: output and input gradient empty, weight gradient 0, running stats unchanged,
  // num_batches_tracked incremented; only exactly 1 value per channel is an error
  for (const Shape& shape : {Shape{0, 3}, Shape{2, 3, 0}, Shape{0, 3, 2, 2}}) {
    CAPTURE(shape);
    std::shared_ptr<nn::BatchNormBase> bn;
    if (shape.size() == 4) bn = std::make_shared<nn::BatchNorm2d>(3);
    else bn = std::make_shared<nn::BatchNorm1d>(3);
    {
      tg::NoGradGuard ng;
      bn->running_mean.fill_(0.5);
      bn->running_var.fill_(2.0);
    }
    Tensor x = tg::zeros(shape).requires_grad_();
    Tensor y = bn->forward(x);  // threw "expected more than 1 value per channel"
    CHECK(y.shape() == shape);
    y.sum().backward();
    CHECK(x.grad().shape() == shape);
    CHECK(bn->weight.grad().to_vector<float>() == std::vector<float>(3, 0.0f));
    CHECK(bn->bias.grad().to_vector<float>() == std::vector<float>(3, 0.0f));
    CHECK(bn->running_mean.to_vector<float>() == std::vector<float>(3, 0.5f));
    CHECK(bn->running_var.to_vector<float>() == std::vector<float>(3, 2.0f));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 1);
  }
  CHECK(F::batch_norm(tg::zeros({0, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true).shape() == Shape{0, 3});
  CHECK_THROWS_WITH_AS(nn::BatchNorm1d(3).forward(tg::zeros({1, 3, 1})),
                       "batch_norm: expected more than 1 value per channel when training, got input shape [1,3,1]",
                       tg::Error);
}

TEST_CASE("MaxPool2d / AvgPool2d: a stride with one zero dim is rejected by the constructor") {
  // was accepted, and the first forward threw "max_pool2d: stride must be positive, got (0, 2)"
  CHECK_THROWS_WITH_AS(nn::MaxPool2d({.kernel = 2, .stride = {0, 2}}),
                       "MaxPool2d: stride must be positive (or 0 for the kernel size), got (0, 2)", tg::Error);
  CHECK_THROWS_WITH_AS(nn::AvgPool2d({.kernel = 2, .stride = {2, 0}}),
                       "AvgPool2d: stride must be positive (or 0 for the kernel size), got (2, 0)", tg::Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool2d({.kernel = 2, .stride = {-1, 2}}),
                       "MaxPool2d: stride must be positive (or 0 for the kernel size), got (-1, 2)", tg::Error);
  CHECK(nn::MaxPool2d({.kernel = {2, 3}}).options().stride == nn::Size2(2, 3));  // 0 = the kernel
  CHECK(nn::AvgPool2d({.kernel = 2, .stride = {1, 2}}).options().stride == nn::Size2(1, 2));
}

TEST_CASE("cross_entropy: float32 over 100,000 classes keeps float accuracy (sum of exp in double)") {
  // near-zero logits, as an untrained head gives: the serial float sum of exp was off by ~5e-5 relative
  const int64_t N = 2, C = 100000;
  tg::Generator g(7);
  const Tensor x = tg::uniform({N, C}, -0.001, 0.001, g);
  const Tensor t = tg::tensor(std::vector<int64_t>{3, 77777});
  const auto xv = x.to_vector<float>();
  const auto l = F::cross_entropy(x, t, {.reduction = nn::Reduction::None}).to_vector<float>();
  for (int64_t i = 0; i < N; ++i) {
    const float* r = xv.data() + i * C;
    double m = r[0], s = 0;
    for (int64_t c = 1; c < C; ++c) m = std::max(m, double(r[c]));
    for (int64_t c = 0; c < C; ++c) s += std::exp(double(r[c]) - m);
    const double want = m + std::log(s) - double(r[i == 0 ? 3 : 77777]);
    CHECK(std::abs(double(l[size_t(i)]) - want) / want < 3e-7);  // PyTorch 1.13: 6e-8
  }
  // the same bits at any thread count
  const int nt = tg::get_num_threads();
  tg::set_num_threads(1);
  const auto l1 = F::cross_entropy(x, t, {.reduction = nn::Reduction::None}).to_vector<float>();
  tg::set_num_threads(nt);
  CHECK(l1 == l);
}

TEST_CASE("nn layer errors: wrong input shapes and invalid options") {
  nn::Linear fc(784, 256);
  CHECK_THROWS_WITH_AS(fc.forward(tg::zeros({4, 100})), "Linear(784 -> 256): input has 100 features (input shape [4,100])",
                       tg::Error);
  CHECK_THROWS_WITH_AS(nn::Linear(5, -3), "Linear: out must be positive, got -3", tg::Error);
  CHECK_THROWS_WITH_AS(nn::Linear({.in = 0, .out = 3}), "Linear: in must be positive, got 0", tg::Error);
  nn::Conv2d conv({.in = 1, .out = 6, .kernel = 5, .padding = 2});
  CHECK(conv.forward(tg::zeros({2, 1, 28, 28})).shape() == Shape{2, 6, 28, 28});
  CHECK_THROWS_WITH_AS(conv.forward(tg::zeros({2, 3, 28, 28})),
                       "Conv2d(1 -> 6): input has 3 channels, expected 1 (input shape [2,3,28,28])", tg::Error);
  CHECK_THROWS_WITH_AS(conv.forward(tg::zeros({3, 28, 28})),
                       "Conv2d(1 -> 6): expected a 4-D input [N, 1, H, W], got shape [3,28,28]", tg::Error);
  CHECK_THROWS_WITH_AS(nn::Conv2d(1, 6, 5).forward(tg::zeros({1, 1, 2, 2})), doctest::Contains("is too small for kernel (5, 5)"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(nn::Conv2d({.in = 1, .out = 6, .kernel = 0}), "Conv2d: kernel must be positive, got (0, 0)",
                       tg::Error);
  CHECK_THROWS_WITH_AS(nn::Conv2d({.in = 3, .out = 6, .kernel = 3, .groups = 2}),
                       "Conv2d: in = 3 is not divisible by groups = 2", tg::Error);
  CHECK_THROWS_WITH_AS(nn::Conv2d({.in = 1, .out = 6, .kernel = 3, .stride = {1, 0}}),
                       "Conv2d: stride must be positive, got (1, 0)", tg::Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool2d(0), "MaxPool2d: kernel must be positive, got (0, 0)", tg::Error);
  CHECK_THROWS_WITH_AS(nn::MaxPool2d({.kernel = 2, .padding = 2}),
                       "MaxPool2d: padding (2, 2) must be at most half the kernel (2, 2)", tg::Error);
  CHECK_THROWS_WITH_AS(nn::BatchNorm2d(3).forward(tg::zeros({2, 4, 2, 2})),
                       "BatchNorm2d(3): input has 4 channels (input shape [2,4,2,2])", tg::Error);
  CHECK_THROWS_WITH_AS(nn::BatchNorm1d(-1), "BatchNorm1d: num_features must be positive, got -1", tg::Error);
  CHECK_THROWS_WITH_AS(nn::LayerNorm(Shape{4}).forward(tg::zeros({2, 5})),
                       "layer_norm: input of shape [2,5] does not end with normalized_shape [4]", tg::Error);
  CHECK_THROWS_WITH_AS(nn::Embedding(10, 3).forward(tg::tensor(std::vector<int64_t>{2, 10})),
                       "embedding: index 10 at position 1 is out of range for 10 embeddings", tg::Error);
  CHECK_THROWS_WITH_AS(F::conv2d(tg::zeros({1, 4, 5, 5}), tg::zeros({4, 3, 3, 3}), Tensor(), {.groups = 1}),
                       "conv2d: input has 4 channels, but weight [4,3,3,3] with groups = 1 expects 3", tg::Error);
}

TEST_CASE("relu and linear_relu: the first-order backward (one pass) gives the composed backward's bits") {
  // First order runs raw::relu_backward (dz and the bias sum in one pass, cut
  // by columns); with create_graph the backward is mul(dy, step(y)) and
  // sum(dz, {0}). Both must give the same gradients bit for bit, at 1 and 2
  // threads, including rows of dead units and exact zeros.
  tgtest::ThreadsGuard guard;
  tg::Generator g(9);
  const Tensor x0 = tg::randn({64, 100}, g), w0 = tg::randn({256, 100}, g) * 0.1, b0 = tg::randn({256}, g);
  const Tensor v = tg::randn({64, 256}, g);
  auto grads = [&](bool fused, bool create_graph) {
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor y = fused ? F::linear_relu(x, w, b) : tg::relu(tg::linear(x, w, b));
    Tensor loss = (y * v).sum();
    std::vector<std::vector<float>> out;
    for (const Tensor& gr : tg::autograd::grad({loss}, {x, w, b}, {.create_graph = create_graph}))
      out.push_back(gr.to_vector<float>());
    return out;
  };
  for (int threads : {1, 2}) {
    tg::set_num_threads(threads);
    CAPTURE(threads);
    const auto composed = grads(true, true);
    CHECK(grads(true, false) == composed);
    CHECK(grads(false, false) == composed);
    CHECK(grads(false, true) == composed);
  }
  // the raw op on its own: dx = dy * step(y), colsum = sum over rows, 3-D, 37 columns
  const Tensor dy = tg::randn({3, 5, 37}, g), y = tg::randn({3, 5, 37}, g);
  Tensor colsum;
  const Tensor dx = tg::raw::relu_backward(dy, y, &colsum);
  CHECK(dx.to_vector<float>() == tg::mul(dy, tg::raw::unary(tg::kernels::UnaryOp::Step, y, "step")).to_vector<float>());
  CHECK(colsum.shape() == Shape{37});
  CHECK(colsum.to_vector<float>() == tg::sum(dx, {0, 1}).to_vector<float>());
  CHECK_THROWS_WITH_AS(tg::raw::relu_backward(dy, tg::zeros({3, 5})), "relu_backward: dy has shape [3,5,37], y has [3,5]",
                       tg::Error);
}

TEST_CASE("nn linear_relu: gradcheck (first and second order), Sequential fuses Linear + ReLU with the same bits") {
  Tensor x = rnd({3, 2, 4}, 21), w = rnd({5, 4}, 22), b = rnd({5}, 23);
  CHECK(gc([](const std::vector<Tensor>& v) { return F::linear_relu(v[0], v[1], v[2]); }, {x, w, b}));
  CHECK(gc([](const std::vector<Tensor>& v) { return F::linear_relu(v[0], v[1]); }, {x, w}));
  CHECK(gc_second_order([](const Tensor& x_, const Tensor& w_, const Tensor& b_) { return F::linear_relu(x_, w_, b_); },
                        rnd({3, 2, 5}, 24).detach(), {x, w, b}));

  // A float32 MLP through Sequential (fused) and through the ops one by one.
  tg::Generator g(5);
  auto l1 = std::make_shared<nn::Linear>(nn::LinearOptions{6, 8}, g);
  auto l2 = std::make_shared<nn::Linear>(nn::LinearOptions{8, 3}, g);
  nn::Sequential seq{l1, std::make_shared<nn::ReLU>(), l2, std::make_shared<nn::ReLU>()};
  const Tensor xs = tg::randn({7, 6}, g);
  check_fusion(seq.forward(xs), "linear_relu", {l1->weight, l1->bias, l2->weight, l2->bias}, [&] {
    return tg::relu(tg::linear(tg::relu(tg::linear(xs, l1->weight, l1->bias)), l2->weight, l2->bias));
  });
  // a ReLU that does not follow a Linear, and a Linear at the end, run as themselves
  nn::Sequential other{std::make_shared<nn::ReLU>(), l1};
  CHECK(std::string(other.forward(xs).impl()->meta->grad_fn->name) == "linear");
  // a subclass of Linear may override forward: not fused
  struct Doubled : nn::Linear {
    using nn::Linear::Linear;
    Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 2.0; }
  };
  auto dbl = std::make_shared<Doubled>(6, 8);
  nn::Sequential sub{dbl, std::make_shared<nn::ReLU>()};
  Tensor ysub = sub.forward(xs);
  CHECK(std::string(ysub.impl()->meta->grad_fn->name) == "relu");
  CHECK(ysub.to_vector<float>() == tg::relu(tg::linear(xs, dbl->weight, dbl->bias) * 2.0).to_vector<float>());
}

TEST_CASE("conv2d_relu: relu(conv2d) in one pass, the same bits on every conv route, forward and backward") {
  // LeNet's conv1 (row kernels), conv2 (images side by side in one GEMM), a
  // strided conv (im2col + GEMM per image) and a grouped, dilated one; with and without bias; at 1 and 2
  // threads; first order and create_graph (each against the unfused ops in the
  // same mode). Exact zeros in y included (dead units).
  tgtest::ThreadsGuard guard;
  struct Case {
    Shape x, w;
    nn::Conv2dFuncOptions o;
  };
  const std::vector<Case> cases = {{{6, 1, 28, 28}, {6, 1, 5, 5}, {.padding = 2}},
                                   {{6, 6, 14, 14}, {16, 6, 5, 5}, {}},
                                   {{3, 4, 9, 9}, {5, 4, 3, 3}, {.stride = 2, .padding = 1}},
                                   {{2, 4, 11, 11}, {6, 2, 3, 3}, {.padding = 1, .dilation = 2, .groups = 2}}};
  tg::Generator g(17);
  for (const Case& cs : cases)
    for (bool bias : {true, false}) {
      const Tensor x0 = tg::randn(cs.x, g), w0 = tg::randn(cs.w, g) * 0.2, b0 = tg::randn({cs.w[0]}, g) * 0.5;
      auto run = [&](bool fused, bool create_graph) {
        Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
        const Tensor bb = bias ? b : Tensor();
        Tensor y = fused ? F::conv2d_relu(x, w, bb, cs.o) : tg::relu(F::conv2d(x, w, bb, cs.o));
        const Tensor v = tg::ones_like(y) + tg::arange(0, y.numel()).reshape(y.shape()).to(y.dtype()) * 0.001;
        std::vector<Tensor> wrt = {x, w};
        if (bias) wrt.push_back(b);
        std::vector<std::vector<float>> out = {y.to_vector<float>()};
        for (const Tensor& gr : tg::autograd::grad({(y * v).sum()}, wrt, {.create_graph = create_graph}))
          out.push_back(gr.to_vector<float>());
        return out;
      };
      for (int threads : {1, 2}) {
        tg::set_num_threads(threads);
        CAPTURE(cs.x);
        CAPTURE(bias);
        CAPTURE(threads);
        const auto want = run(false, false);
        size_t zeros = 0;
        for (float e : want[0]) zeros += e == 0.0f;
        CHECK(zeros > want[0].size() / 5);  // the ReLU cuts
        CHECK(run(true, false) == want);
        // with create_graph both record the composed backward (db as a plain
        // sum: other bits than the chunked first-order pass, the same either way)
        CHECK(run(true, true) == run(false, true));
      }
    }
}

TEST_CASE("nn conv2d_relu: gradcheck (first and second order), Sequential fuses Conv2d + ReLU with the same bits") {
  Tensor x = rnd({2, 3, 6, 6}, 31), w = rnd({4, 3, 3, 3}, 32), b = rnd({4}, 33);
  CHECK(gc([](const std::vector<Tensor>& v) { return F::conv2d_relu(v[0], v[1], v[2], {.padding = 1}); }, {x, w, b}));
  CHECK(gc([](const std::vector<Tensor>& v) { return F::conv2d_relu(v[0], v[1], Tensor(), {.stride = 2}); },
           {x, w}));
  CHECK(gc_second_order([](const Tensor& x_, const Tensor& w_, const Tensor& b_) { return F::conv2d_relu(x_, w_, b_); },
                        rnd({2, 4, 4, 4}, 34).detach(), {x, w, b}));

  // LeNet's front through Sequential (fused) and op by op, float32
  tg::Generator g(6);
  auto c1 = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}, g);
  auto c2 = std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 6, .out = 16, .kernel = 5}, g);
  nn::Sequential seq{c1, std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), c2,
                     std::make_shared<nn::ReLU>()};
  const Tensor xs = tg::randn({5, 1, 28, 28}, g);
  check_fusion(seq.forward(xs), "conv2d_relu", {c1->weight, c1->bias, c2->weight, c2->bias}, [&] {
    return tg::relu(F::conv2d(
        F::max_pool2d(tg::relu(F::conv2d(xs, c1->weight, c1->bias, {.padding = 2})), {.kernel = 2}), c2->weight,
        c2->bias));
  });
  // a Conv2d not followed by a ReLU runs as itself
  nn::Sequential plain{c1, std::make_shared<nn::MaxPool2d>(2)};
  CHECK(std::string(plain.forward(xs).impl()->meta->grad_fn->name) == "max_pool2d");
}
