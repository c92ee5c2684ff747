// Optimizer and scheduler edge cases found by review (session 11), against
// PyTorch 1.13: a parameter group added after a scheduler, OneCycleLR phases
// with no steps, chained schedulers sharing group['initial_lr'], state that
// an optimizer saved before a scheduler turned momentum / amsgrad on, NaN in
// gradient clipping, empty parameter lists; step counts and scheduler
// counters near the int64 limit in a loaded state (a later review).
#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "../common/test_util.h"

using tg::Tensor;
namespace to = tg::optim;

TEST_CASE("schedulers: a parameter group added after the scheduler is an error (was read past the end)") {
  Tensor a = tg::zeros({2}, {.requires_grad = true}), b = tg::zeros({2}, {.requires_grad = true});
  to::SGD opt({a}, {.lr = 0.1});
  to::CosineAnnealingLR cos(opt, {.T_max = 10});
  to::ReduceLROnPlateau plateau(opt, {});
  opt.add_param_group({b}, {.lr = 0.5});
  CHECK_THROWS_WITH_AS(cos.step(), doctest::Contains("the optimizer has 2 parameter groups but the scheduler was made for 1"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(plateau.step(1.0), doctest::Contains("made for 1"), tg::Error);
  CHECK(opt.lr(1) == 0.5);  // untouched
}

TEST_CASE("OneCycleLR: a phase with no steps is an error (lr and momentum were NaN)") {
  Tensor a = tg::zeros({2}, {.requires_grad = true});
  to::SGD opt({a}, {.lr = 0.1, .momentum = 0.9});
  CHECK_THROWS_WITH_AS(to::OneCycleLR(opt, {.max_lr = 0.5, .total_steps = 10, .pct_start = 0.1}),
                       doctest::Contains("phase 1 of 2 has no steps"), tg::Error);
  // pct_start = 1: the annealing phase starts and ends on the last step, an
  // error when a step reaches it (as PyTorch), not before
  Tensor b = tg::zeros({2}, {.requires_grad = true});
  to::SGD opt2({b}, {.lr = 0.1, .momentum = 0.9});
  to::OneCycleLR full(opt2, {.max_lr = 0.5, .total_steps = 10, .pct_start = 1.0});
  for (int i = 0; i < 9; ++i) full.step();
  CHECK(opt2.lr(0) == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(full.step(), doctest::Contains("phase 2 of 2 has no steps at step 10"), tg::Error);
  to::OneCycleLR ok(opt, {.max_lr = 0.5, .total_steps = 10, .pct_start = 0.2});
  CHECK(std::isfinite(opt.lr(0)));
  CHECK(opt.lr(0) == doctest::Approx(0.5 / 25));
}

TEST_CASE("schedulers: chained schedulers share the group's initial lr (PyTorch's values)") {
  Tensor a = tg::zeros({2}, {.requires_grad = true});
  to::SGD opt({a}, {.lr = 0.1});
  to::LinearLR lin(opt, {.start_factor = 0.5, .total_iters = 2});
  to::CosineAnnealingLR cos(opt, {.T_max = 2});
  std::vector<double> lrs = {opt.lr(0)};
  for (int e = 0; e < 7; ++e) {
    opt.step();
    lin.step();
    cos.step();
    lrs.push_back(opt.lr(0));
  }
  // torch 1.13, the same loop; was 0.05 0.0375 0 0.025 0.05 0.025 0 0.025
  const std::vector<double> want = {0.05, 0.037500000000000006, 0.0, 0.049999999999999996, 0.10000000000000002,
                                    0.050000000000000024, 0.0, 0.049999999999999996};
  REQUIRE(lrs.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(lrs[i] == doctest::Approx(want[i]).epsilon(1e-15));
}

TEST_CASE("optimizers: a state saved before momentum / amsgrad / centered was turned on loads back") {
  Tensor p = tg::ones({3}, {.requires_grad = true});
  to::RMSprop opt({p}, {.lr = 0.01});
  p.set_grad(tg::full({3}, 0.5));
  opt.step();
  to::OneCycleLR sched(opt, {.max_lr = 0.1, .total_steps = 10});  // sets momentum 0.95
  CHECK_NOTHROW(opt.load_state_dict(opt.state_dict()));           // "momentum_buffer missing but momentum > 0"
  opt.step();                                                     // makes the buffer
  CHECK(std::isfinite(p.to_vector<float>()[0]));
  Tensor q = tg::ones({3}, {.requires_grad = true});
  to::Adam adam({q}, {.lr = 0.01});
  q.set_grad(tg::full({3}, 0.5));
  adam.step();
  auto st = adam.state_dict();
  st.metadata["group.0.amsgrad"] = "true";  // amsgrad turned on in the saved group, as in PyTorch's param_groups
  CHECK_NOTHROW(adam.load_state_dict(st));  // "max_exp_avg_sq missing but amsgrad is on"
  adam.step();
  CHECK(std::isfinite(q.to_vector<float>()[0]));
}

TEST_CASE("clipping: a NaN norm makes every gradient NaN, clip_grad_value_ keeps NaN on any layout (as PyTorch)") {
  Tensor a = tg::zeros({2}, {.requires_grad = true}), b = tg::zeros({2}, {.requires_grad = true});
  a.set_grad(tg::tensor({NAN, 1.0f}));
  b.set_grad(tg::tensor({1e30f, 2.0f}));
  const double total = tg::nn::utils::clip_grad_norm_({a, b}, 1.0);
  CHECK(std::isnan(total));
  for (float v : b.grad().to_vector<float>()) CHECK(std::isnan(v));  // were left as they were
  // a non-contiguous .grad (a transposed view) clamps like a contiguous one
  Tensor w = tg::zeros({2, 2}, {.requires_grad = true});
  w.set_grad(tg::tensor({NAN, 3.0f, -3.0f, 0.5f}, {2, 2}).t());
  tg::nn::utils::clip_grad_value_({w}, 1.0);
  const auto g = w.grad().contiguous().to_vector<float>();  // [[nan, -1], [1, 0.5]]
  CHECK(std::isnan(g[0]));  // was -1 (clamp's NaN rule)
  CHECK(g[1] == -1.0f);
  CHECK(g[2] == 1.0f);
  CHECK(g[3] == 0.5f);
}

TEST_CASE("optimizers: an empty parameter list is an error (as PyTorch)") {
  CHECK_THROWS_WITH_AS(to::SGD(std::vector<Tensor>{}, {.lr = 0.1}), doctest::Contains("SGD: got an empty parameter list"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::Adam(std::vector<to::ParamGroup<to::AdamOptions>>{}),
                       doctest::Contains("Adam: got an empty list of parameter groups"), tg::Error);
}

TEST_CASE("optimizers: a parameter converted in place (to(dtype)) after a step keeps its state, converted") {
  // the next step threw "data_ptr: tensor has dtype float32, requested float64"
  // (PyTorch keeps going), and each failed step still advanced state.step
  const double b1 = 0.9;
  tg::nn::Linear l(3, 2);
  to::Adam adam(l.parameters(), {.lr = 0.1});
  tg::nn::Linear l2(3, 2);
  to::SGD sgd(l2.parameters(), {.lr = 0.1, .momentum = 0.9});
  tg::Generator gen(3);
  const Tensor x = tg::randn({4, 3}, gen);
  auto step = [&](tg::nn::Linear& m, to::Optimizer& opt, tg::DType dt) {
    opt.zero_grad();
    m.forward(x.to(dt)).pow(2.0).mean().backward();
    opt.step();
  };
  step(l, adam, tg::kFloat32);
  step(l2, sgd, tg::kFloat32);
  const std::vector<double> m1 = adam.state_dict().tensors.at("state.0.exp_avg").to_vector<double>();
  l.to(tg::kFloat64);
  l2.to(tg::kFloat64);
  adam.zero_grad();
  l.forward(x.to(tg::kFloat64)).pow(2.0).mean().backward();
  const std::vector<double> g2 = l.weight.grad().to_vector<double>();
  adam.step();
  step(l2, sgd, tg::kFloat64);
  const to::OptimizerState st = adam.state_dict();
  CHECK(st.metadata.at("state.0.step") == "2");
  const Tensor m2 = st.tensors.at("state.0.exp_avg");
  CHECK(m2.dtype() == tg::kFloat64);
  const std::vector<double> m2v = m2.to_vector<double>();
  for (size_t i = 0; i < m2v.size(); ++i)  // m2 = b1 m1 + (1 - b1) g2, m1 exact in float64
    CHECK(m2v[i] == doctest::Approx(b1 * m1[i] + (1 - b1) * g2[i]).epsilon(1e-13));
  CHECK(sgd.state_dict().tensors.at("state.0.momentum_buffer").dtype() == tg::kFloat64);
  CHECK(l.weight.dtype() == tg::kFloat64);
  // state saved in float32 loads into the converted optimizer (as PyTorch casts on load)
  tg::nn::Linear l3(3, 2);
  to::Adam adam3(l3.parameters(), {.lr = 0.1});
  step(l3, adam3, tg::kFloat32);
  const to::OptimizerState saved = adam3.state_dict();
  l3.to(tg::kFloat64);
  adam3.load_state_dict(saved);
  const Tensor m3 = adam3.state_dict().tensors.at("state.0.exp_avg");
  CHECK(m3.dtype() == tg::kFloat64);
  CHECK(m3.to_vector<double>() == saved.tensors.at("state.0.exp_avg").to_vector<double>());
  step(l3, adam3, tg::kFloat64);
  CHECK(adam3.state_dict().metadata.at("state.0.step") == "2");
}


TEST_CASE("optimizers: a loaded step count past 2^53 is refused (the next step overflowed to NaN)") {
  // state.0.step = INT64_MAX passed the check (>= 1); ++step wrapped to
  // INT64_MIN, 1 - beta2^step became infinite and Adam's parameters NaN
  Tensor p = tg::zeros({3}, {.dtype = tg::kFloat64, .requires_grad = true});
  to::Adam opt({p}, {.lr = 0.1});
  p.set_grad(tg::ones({3}, {.dtype = tg::kFloat64}));
  opt.step();
  to::OptimizerState s = opt.state_dict();
  for (const std::string bad : {"9223372036854775807", "9007199254740993"}) {
    s.metadata["state.0.step"] = bad;
    CHECK_THROWS_WITH_AS(opt.load_state_dict(s),
                         doctest::Contains(("Adam.load_state_dict: state.0.step must be in [1, 9007199254740992] (a "
                                            "parameter has state only after its first step), got " + bad)
                                               .c_str()),
                         tg::Error);
  }
  CHECK(opt.state_dict().metadata.at("state.0.step") == "1");  // untouched
  // 2^53 itself loads, and the next step is PyTorch's (bias corrections are 1 in double)
  s.metadata["state.0.step"] = "9007199254740992";
  opt.load_state_dict(s);
  p.set_grad(tg::ones({3}, {.dtype = tg::kFloat64}));
  opt.step();
  CHECK(opt.state_dict().metadata.at("state.0.step") == "9007199254740993");
  for (double v : p.to_vector<double>()) CHECK(v == doctest::Approx(-0.5249590727529525).epsilon(1e-14));
}

TEST_CASE("schedulers: loaded counters outside [-1 or 0, 2^53] are refused (the next step overflowed)") {
  Tensor w = tg::zeros({1}, {.requires_grad = true});
  to::SGD opt({w}, {.lr = 0.1});
  to::StepLR sched(opt, {.step_size = 2});
  sched.step();
  const std::string good = sched.state_dict();
  auto with = [](const std::string& state, const std::map<std::string, int64_t>& set) {
    nlohmann::json j = nlohmann::json::parse(state);
    for (const auto& [k, v] : set) j[k] = v;
    return j.dump();
  };
  const int64_t big = INT64_MAX;
  struct Bad {
    const char* key;
    int64_t value;
    const char* range;
  };
  for (const Bad& b : {Bad{"last_epoch", big, "[-1, 9007199254740992]"}, Bad{"last_epoch", -2, "[-1, 9007199254740992]"},
                       Bad{"step_count", big, "[0, 9007199254740992]"}, Bad{"step_count", -1, "[0, 9007199254740992]"}}) {
    CAPTURE(b.key);
    CAPTURE(b.value);
    CHECK_THROWS_WITH_AS(sched.load_state_dict(with(good, {{b.key, b.value}})),
                         doctest::Contains(("scheduler load_state_dict: '" + std::string(b.key) + "' must be in " +
                                            b.range + ", got " + std::to_string(b.value))
                                               .c_str()),
                         tg::Error);
  }
  CHECK(sched.last_epoch() == 1);  // untouched
  // the bounds load: 2^53 counts on, -1 / 0 is a scheduler before its initial step
  sched.load_state_dict(with(good, {{"last_epoch", int64_t(1) << 53}, {"step_count", int64_t(1) << 53}}));
  sched.step();
  CHECK(sched.last_epoch() == (int64_t(1) << 53) + 1);
  sched.load_state_dict(with(good, {{"last_epoch", -1}, {"step_count", 0}}));
  sched.step();
  CHECK(sched.last_epoch() == 0);

  to::ReduceLROnPlateau plateau(opt, {});
  plateau.step(1.0);
  const std::string pgood = plateau.state_dict();
  for (const Bad& b : {Bad{"last_epoch", big, "[0, 9007199254740992]"}, Bad{"last_epoch", -1, "[0, 9007199254740992]"},
                       Bad{"num_bad_epochs", big, "[0, 9007199254740992]"},
                       Bad{"cooldown_counter", -1, "[0, 9223372036854775807]"}}) {
    CAPTURE(b.key);
    CAPTURE(b.value);
    CHECK_THROWS_WITH_AS(plateau.load_state_dict(with(pgood, {{b.key, b.value}})),
                         doctest::Contains(
                             ("'" + std::string(b.key) + "' must be in " + b.range + ", got " + std::to_string(b.value))
                                 .c_str()),
                         tg::Error);
  }
  plateau.load_state_dict(with(pgood, {{"num_bad_epochs", int64_t(1) << 53}}));
  CHECK(plateau.num_bad_epochs() == int64_t(1) << 53);
}

TEST_CASE("optimizers: a loaded running average of squares with a negative entry is damage, refused at load") {
  // A negative exp_avg_sq is finite, so it loaded, and the next step's sqrt
  // made the parameter NaN: reported as divergence instead of as damage.
  Tensor p = tg::zeros({3}, {.requires_grad = true});
  auto damaged = [&](to::Optimizer& opt, const std::string& key) {
    p.set_grad(tg::ones({3}));
    opt.step();
    to::OptimizerState s = opt.state_dict();
    REQUIRE(s.tensors.count(key) == 1);
    Tensor bad = s.tensors.at(key).clone();
    bad.data_ptr<float>()[1] = -1e-3f;
    s.tensors[key] = bad;
    return s;
  };
  to::Adam adam({p}, {.lr = 0.1, .amsgrad = true});
  for (const std::string key : {"state.0.exp_avg_sq", "state.0.max_exp_avg_sq"}) {
    CAPTURE(key);
    const to::OptimizerState s = damaged(adam, key);
    CHECK_THROWS_WITH_AS(adam.load_state_dict(s),
                         ("Adam.load_state_dict: " + key +
                          " has a negative entry (-0.001); a running average of squares is never "
                          "negative, so the state is damaged").c_str(),
                         tg::Error);
  }
  to::RMSprop rms({p}, {.lr = 0.1});
  CHECK_THROWS_WITH_AS(rms.load_state_dict(damaged(rms, "state.0.square_avg")),
                       doctest::Contains("RMSprop.load_state_dict: state.0.square_avg has a negative entry"), tg::Error);
  to::Adagrad ada({p}, {.lr = 0.1});
  CHECK_THROWS_WITH_AS(ada.load_state_dict(damaged(ada, "state.0.sum")),
                       doctest::Contains("Adagrad.load_state_dict: state.0.sum has a negative entry"), tg::Error);
  // undamaged state still loads (zeros included)
  to::Adam fresh({p}, {.lr = 0.1});
  p.set_grad(tg::zeros({3}));
  fresh.step();
  fresh.load_state_dict(fresh.state_dict());
}
