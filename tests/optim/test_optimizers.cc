// The optimizers against PyTorch (tests/reference/optim_trajectories.json,
// made by gen_optim.py): every configuration runs 20 steps of the reference
// loop (zero_grad; loss = f(); loss.backward(); step) on the quadratic and
// Rosenbrock problems in float64, with losses and gradients from tg ops and
// autograd, and must match every step's parameters and loss to 1e-6 relative.
// Also: save after 10 steps -> load into a fresh optimizer -> 10 more steps is
// bit-identical to 20 straight steps; parameter groups; zero_grad; skipped
// parameters; thread-count independence; invalid options; schedulers driving
// real optimizers; gradient clipping against torch.nn.utils.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/rmsprop.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "optim/state_io.h"
#include "tensor/kernels/optim.h"
#include "tensor/parallel.h"
#include "tensor/random.h"

using nlohmann::json;
using tg::Tensor;
namespace to = tg::optim;

namespace {

const json& ref() {
  static const json j = [] {
    std::ifstream f(std::string(TG_TEST_REFERENCE_DIR) + "/optim_trajectories.json");
    REQUIRE(f.good());
    return json::parse(f);
  }();
  return j;
}

void flatten(const json& j, std::vector<double>& out) {
  if (j.is_array())
    for (const auto& e : j) flatten(e, out);
  else
    out.push_back(j.get<double>());
}
std::vector<double> flat(const json& j) {
  std::vector<double> v;
  flatten(j, v);
  return v;
}
tg::Shape shape_of(const json& j) {
  tg::Shape s;
  for (const auto& d : j) s.push_back(d.get<int64_t>());
  return s;
}

// One reference problem: named leaf parameters and a closure for the loss.
struct Problem {
  std::vector<std::string> names;
  std::map<std::string, Tensor> params;
  std::function<Tensor()> loss;
  std::vector<Tensor> list() const {
    std::vector<Tensor> v;
    for (const auto& n : names) v.push_back(params.at(n));
    return v;
  }
};

// Builds the problem with the given starting values (default: the JSON's init).
Problem make_problem(const std::string& name, tg::DType dtype = tg::kFloat64,
                     const std::map<std::string, std::vector<double>>& start = {}) {
  const json& pj = ref()["problems"][name];
  Problem pr;
  auto leaf = [&](const std::string& n) {
    std::vector<double> v = start.count(n) ? start.at(n) : flat(pj["init"][n]);
    Tensor t = tg::tensor(v, shape_of(pj["shapes"][n])).to(dtype);
    t.requires_grad_(true);
    return t;
  };
  auto constant = [&](const std::string& n) {
    return tg::tensor(flat(pj["constants"][n]), shape_of(pj["shapes"][n == "c1" || n == "t1" ? "x" : "y"])).to(dtype);
  };
  for (const auto& n : pj["params"]) {
    pr.names.push_back(n.get<std::string>());
    pr.params[n.get<std::string>()] = leaf(n.get<std::string>());
  }
  if (name == "quadratic") {
    Tensor x = pr.params["x"], y = pr.params["y"];
    Tensor c1 = constant("c1"), t1 = constant("t1"), c2 = constant("c2"), t2 = constant("t2");
    // sum(c1*(x-t1)^2) + sum(c2*(y-t2)^2)
    pr.loss = [=] { return tg::sum(c1 * tg::square(x - t1)) + tg::sum(c2 * tg::square(y - t2)); };
  } else {
    Tensor p = pr.params["p"];
    // (1-p[0])^2 + 100*(p[1]-p[0]^2)^2
    pr.loss = [=] { return tg::square(1.0 - p[0]) + 100.0 * tg::square(p[1] - tg::square(p[0])); };
  }
  return pr;
}

// Options structs from the JSON's fully resolved option values.
to::SGDOptions sgd_opts(const json& o) {
  return {.lr = o["lr"], .momentum = o["momentum"], .dampening = o["dampening"],
          .weight_decay = o["weight_decay"], .nesterov = o["nesterov"], .maximize = o["maximize"]};
}
template <class O>
O adam_opts(const json& o) {
  return {.lr = o["lr"], .betas = {o["betas"][0], o["betas"][1]}, .eps = o["eps"],
          .weight_decay = o["weight_decay"], .amsgrad = o["amsgrad"], .maximize = o["maximize"]};
}
to::RMSpropOptions rmsprop_opts(const json& o) {
  return {.lr = o["lr"], .alpha = o["alpha"], .eps = o["eps"], .weight_decay = o["weight_decay"],
          .momentum = o["momentum"], .centered = o["centered"], .maximize = o["maximize"]};
}
to::AdagradOptions adagrad_opts(const json& o) {
  return {.lr = o["lr"], .lr_decay = o["lr_decay"], .weight_decay = o["weight_decay"],
          .initial_accumulator_value = o["initial_accumulator_value"], .eps = o["eps"], .maximize = o["maximize"]};
}

std::unique_ptr<to::Optimizer> make_optimizer(const json& c, const std::vector<Tensor>& params) {
  const std::string kind = c["optimizer"];
  if (!c["param_groups"].is_null()) {  // Adam with one group per named parameter
    std::vector<to::ParamGroup<to::AdamOptions>> groups;
    for (size_t i = 0; i < c["param_groups"].size(); ++i)
      groups.push_back({{params[i]}, adam_opts<to::AdamOptions>(c["param_groups"][i]["resolved_options"])});
    return std::make_unique<to::Adam>(groups);
  }
  const json& o = c["resolved_options"];
  if (kind == "SGD") return std::make_unique<to::SGD>(params, sgd_opts(o));
  if (kind == "Adam") return std::make_unique<to::Adam>(params, adam_opts<to::AdamOptions>(o));
  if (kind == "AdamW") return std::make_unique<to::AdamW>(params, adam_opts<to::AdamWOptions>(o));
  if (kind == "RMSprop") return std::make_unique<to::RMSprop>(params, rmsprop_opts(o));
  if (kind == "Adagrad") return std::make_unique<to::Adagrad>(params, adagrad_opts(o));
  FAIL("unknown optimizer ", kind);
  return nullptr;
}

// The reference loop; returns the losses.
std::vector<double> run(to::Optimizer& opt, Problem& pr, int steps,
                        const std::function<void(int)>& after_step = nullptr) {
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor loss = pr.loss();
    loss.backward();
    opt.step();
    losses.push_back(loss.item_double());
    if (after_step) after_step(i);
  }
  return losses;
}

double rel_err(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

std::string tmp_path(const std::string& stem) {
  return std::string("/tmp/tapegrad_test_") + stem + "_" + std::to_string(::getpid()) + ".safetensors";
}

}  // namespace

TEST_CASE("optim: 20 steps of every configuration match PyTorch to 1e-6 (float64)") {
  double worst_overall = 0;
  std::string worst_case;
  for (const auto& c : ref()["cases"]) {
    const std::string name = c["name"];
    Problem pr = make_problem(c["problem"]);
    auto opt = make_optimizer(c, pr.list());
    double worst = 0;
    std::vector<double> losses = run(*opt, pr, 20, [&](int i) {
      for (const auto& n : pr.names) {
        const std::vector<double> got = pr.params[n].to_vector<double>();
        const std::vector<double> want = flat(c["params"][i][n]);
        REQUIRE(got.size() == want.size());
        for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, rel_err(got[k], want[k]));
      }
    });
    for (size_t i = 0; i < losses.size(); ++i) worst = std::max(worst, rel_err(losses[i], c["losses"][i].get<double>()));
    INFO(name);
    CHECK(worst <= 1e-6);
    if (worst > worst_overall) worst_overall = worst, worst_case = name;
  }
  MESSAGE("trajectories: ", ref()["cases"].size(), " cases, max rel error ", worst_overall, " (", worst_case, ")");
}

TEST_CASE("optim: float32 parameters follow the float64 reference closely") {
  for (const auto& c : ref()["cases"]) {
    if (c["problem"] != "quadratic") continue;
    Problem pr = make_problem("quadratic", tg::kFloat32);
    auto opt = make_optimizer(c, pr.list());
    run(*opt, pr, 20);
    double worst = 0;
    for (const auto& n : pr.names) {
      const std::vector<float> got = pr.params[n].to_vector<float>();
      const std::vector<double> want = flat(c["params"][19][n]);
      for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::abs(double(got[k]) - want[k]));
    }
    INFO(c["name"].get<std::string>());
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("optim: save after 10 steps, load into a fresh optimizer, 10 more = 20 straight, bit for bit") {
  for (const auto& c : ref()["cases"]) {
    const std::string name = c["name"];
    INFO(name);
    Problem straight = make_problem(c["problem"]);
    auto opt_a = make_optimizer(c, straight.list());
    run(*opt_a, straight, 20);

    Problem first = make_problem(c["problem"]);
    auto opt_b = make_optimizer(c, first.list());
    run(*opt_b, first, 10);
    const std::string path = tmp_path("resume");
    to::save_state(*opt_b, path, {{"note", "resume test"}});

    std::map<std::string, std::vector<double>> values;
    for (const auto& n : first.names) values[n] = first.params[n].to_vector<double>();
    Problem second = make_problem(c["problem"], tg::kFloat64, values);
    auto opt_c = make_optimizer(c, second.list());
    for (size_t g = 0; g < opt_c->num_param_groups(); ++g) opt_c->set_lr(g, 123.0);  // load must restore options
    const auto md = to::load_state(*opt_c, path);
    std::remove(path.c_str());
    CHECK(md.at("note") == "resume test");
    run(*opt_c, second, 10);
    for (const auto& n : straight.names) {
      const std::vector<double> a = straight.params[n].to_vector<double>();
      const std::vector<double> b = second.params[n].to_vector<double>();
      CHECK(a == b);
    }
  }
}

TEST_CASE("optim: state_dict layout") {
  Problem pr = make_problem("quadratic");
  to::Adam opt(pr.list(), {.lr = 0.05, .amsgrad = true});
  run(opt, pr, 3);
  const to::OptimizerState s = opt.state_dict();
  CHECK(s.metadata.at("optimizer") == "Adam");
  CHECK(s.metadata.at("param_groups") == "1");
  CHECK(s.metadata.at("group.0.lr") == "0.05");
  CHECK(s.metadata.at("group.0.amsgrad") == "true");
  CHECK(s.metadata.at("state.1.step") == "3");
  CHECK(s.tensors.count("state.0.exp_avg") == 1);
  CHECK(s.tensors.count("state.1.max_exp_avg_sq") == 1);
  CHECK(s.tensors.at("state.1.exp_avg_sq").shape() == tg::Shape{2, 2});
  // A state saved by another optimizer type is refused.
  to::SGD sgd(make_problem("quadratic").list(), {.lr = 0.1});
  CHECK_THROWS_WITH_AS(sgd.load_state_dict(s), doctest::Contains("saved by Adam"), tg::Error);
  // Shape mismatch is refused and leaves the optimizer untouched.
  Problem other = make_problem("rosenbrock");
  to::Adam wrong(other.list(), {.lr = 0.05});
  CHECK_THROWS_AS(wrong.load_state_dict(s), tg::Error);
  // A corrupt file names the path.
  const std::string path = tmp_path("corrupt");
  { std::ofstream f(path, std::ios::binary); f << "garbage!garbage!"; }
  CHECK_THROWS_WITH_AS(to::load_state(opt, path), doctest::Contains(path.c_str()), tg::Error);
  std::remove(path.c_str());
}

TEST_CASE("optim: zero_grad, skipped parameters, parameter groups") {
  Tensor a = tg::tensor(std::vector<double>{1.0, 2.0}, {}, true);
  Tensor b = tg::tensor(std::vector<double>{3.0}, {}, true);
  to::SGD opt({a}, {.lr = 0.5});
  opt.add_param_group({b}, {.lr = 0.25, .momentum = 0.9});
  CHECK(opt.param_groups().size() == 2);
  CHECK(opt.param_groups()[1].options.momentum == 0.9);

  tg::sum(a * a).backward();  // b gets no gradient
  opt.step();
  CHECK(a.to_vector<double>() == std::vector<double>{0.0, 0.0});  // a - 0.5 * 2a
  CHECK(b.to_vector<double>() == std::vector<double>{3.0});
  CHECK(opt.state(b) == nullptr);
  CHECK(opt.state(a) != nullptr);

  opt.zero_grad(false);
  REQUIRE(a.grad().defined());
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0.0, 0.0});
  opt.zero_grad();
  CHECK(!a.grad().defined());

  CHECK_THROWS_WITH_AS(opt.add_param_group({a}), doctest::Contains("already in group 0"), tg::Error);
  CHECK_THROWS_WITH_AS(to::SGD({a, a}, {.lr = 0.1}), doctest::Contains("appears twice"), tg::Error);
  Tensor nonleaf = a * 2.0;
  CHECK_THROWS_WITH_AS(to::SGD({nonleaf}, {.lr = 0.1}), doctest::Contains("not a leaf"), tg::Error);
}

TEST_CASE("optim: invalid options throw naming the option and value") {
  std::vector<Tensor> ps{tg::tensor(std::vector<double>{1.0}, {}, true)};
  CHECK_THROWS_WITH_AS(to::SGD(ps, {.lr = -0.1}), doctest::Contains("SGD: lr must be >= 0, got -0.1"), tg::Error);
  CHECK_THROWS_WITH_AS(to::SGD(ps, {}), doctest::Contains("SGD: lr must be set"), tg::Error);
  CHECK_THROWS_WITH_AS(to::SGD(ps, {.lr = 0.1, .nesterov = true}),
                       doctest::Contains("nesterov requires momentum > 0 and dampening = 0, got momentum = 0"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::SGD(ps, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       doctest::Contains("dampening = 0.1"), tg::Error);
  CHECK_THROWS_WITH_AS(to::SGD(ps, {.lr = 0.1, .weight_decay = -1}),
                       doctest::Contains("weight_decay must be >= 0, got -1"), tg::Error);
  CHECK_THROWS_WITH_AS(to::Adam(ps, {.betas = {1.0, 0.999}}),
                       doctest::Contains("Adam: betas.first (beta1) must be in [0, 1), got 1"), tg::Error);
  CHECK_THROWS_WITH_AS(to::AdamW(ps, {.betas = {0.9, -0.5}}),
                       doctest::Contains("AdamW: betas.second (beta2) must be in [0, 1), got -0.5"), tg::Error);
  CHECK_THROWS_WITH_AS(to::Adam(ps, {.eps = -1e-8}), doctest::Contains("Adam: eps must be >= 0, got -1e-08"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::RMSprop(ps, {.alpha = -0.5}), doctest::Contains("RMSprop: alpha must be >= 0, got -0.5"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::Adagrad(ps, {.lr_decay = -1}), doctest::Contains("Adagrad: lr_decay must be >= 0, got -1"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::Adagrad(ps, {.initial_accumulator_value = -1}),
                       doctest::Contains("initial_accumulator_value must be >= 0, got -1"), tg::Error);
  // A group's own options are validated too.
  to::Adam opt(ps, {});
  Tensor q = tg::tensor(std::vector<double>{1.0}, {}, true);
  CHECK_THROWS_WITH_AS(opt.add_param_group({q}, {.lr = -1}), doctest::Contains("Adam: lr must be >= 0, got -1"),
                       tg::Error);
  CHECK(to::AdamW(ps).param_groups()[0].options.weight_decay == 0.01);
}

TEST_CASE("optim: results do not depend on the thread count") {
  const int64_t n = 300001;  // > the parallel threshold, not a multiple of the chunk
  tg::Generator gen(7);
  const Tensor p0 = tg::randn({n}, gen);
  const Tensor g = tg::randn({n}, gen);
  auto run_with = [&](int threads) {
    tg::set_num_threads(threads);
    Tensor p = p0.clone();
    p.requires_grad_(true);
    to::Adam opt({p}, {.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
    for (int i = 0; i < 3; ++i) {
      p.set_grad(g);
      opt.step();
    }
    return p.to_vector<float>();
  };
  const int saved = tg::get_num_threads();
  const std::vector<float> one = run_with(1), two = run_with(2);
  tg::set_num_threads(saved);
  CHECK(one == two);
  // And the chunked walk equals one scalar pass over the whole span.
  std::vector<float> p = p0.to_vector<float>(), gv = g.to_vector<float>(), m(n), v(n), vm(n);
  for (int s = 1; s <= 3; ++s)
    tg::kernels::adam_step_ref(p.data(), gv.data(), m.data(), v.data(), vm.data(), n,
                               {.lr = 0.01, .weight_decay = 0.1, .step = s, .amsgrad = true});
  CHECK(p == one);
}

TEST_CASE("sched: schedulers drive real optimizers (lr, momentum, beta1)") {
  Problem pr = make_problem("quadratic");
  to::SGD sgd(pr.list(), {.lr = 0.1, .momentum = 0.9});
  to::OneCycleLR oc(sgd, {.max_lr = 0.5, .total_steps = 101});
  CHECK(sgd.param_groups()[0].options.momentum == 0.95);
  CHECK(sgd.lr(0) == doctest::Approx(0.02));
  run(sgd, pr, 5, [&](int) { oc.step(); });
  CHECK(sgd.param_groups()[0].options.lr == oc.get_last_lr()[0]);

  Problem pr2 = make_problem("quadratic");
  to::Adam adam(pr2.list(), {.lr = 0.1});
  to::OneCycleLR oc2(adam, {.max_lr = 0.5, .total_steps = 101});
  run(adam, pr2, 30, [&](int) { oc2.step(); });
  CHECK(adam.param_groups()[0].options.betas.first == doctest::Approx(0.85).epsilon(1e-3));

  Problem pr3 = make_problem("quadratic");
  to::Adagrad ada(pr3.list(), {.lr = 0.1});
  CHECK_THROWS_WITH_AS(to::OneCycleLR(ada, {.max_lr = 0.5, .total_steps = 10}),
                       doctest::Contains("Adagrad has neither"), tg::Error);
  to::StepLR st(ada, {.step_size = 2, .gamma = 0.5});
  run(ada, pr3, 4, [&](int) { st.step(); });
  CHECK(ada.lr(0) == doctest::Approx(0.025));
}

TEST_CASE("clip: clip_grad_norm_ and clip_grad_value_ match torch.nn.utils") {
  for (const auto& c : ref()["clip"]) {
    INFO(c["name"].get<std::string>());
    std::vector<Tensor> ps;
    for (const auto& g : c["grads_in"]) {
      std::vector<double> v = flat(g);
      tg::Shape shape = g[0].is_array() ? tg::Shape{int64_t(g.size()), int64_t(g[0].size())} : tg::Shape{int64_t(g.size())};
      Tensor p = tg::zeros(shape, {.dtype = tg::kFloat64, .requires_grad = true});
      p.set_grad(tg::tensor(v, shape));
      ps.push_back(p);
    }
    if (c["fn"] == "clip_grad_norm_") {
      const double nt = c["norm_type"].is_string() ? tg::nn::utils::kInfNorm : c["norm_type"].get<double>();
      const double total = tg::nn::utils::clip_grad_norm_(ps, c["max_norm"].get<double>(), nt);
      CHECK(rel_err(total, c["total_norm"].get<double>()) < 1e-12);
    } else {
      tg::nn::utils::clip_grad_value_(ps, c["clip_value"].get<double>());
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      const std::vector<double> got = ps[i].grad().to_vector<double>(), want = flat(c["grads_out"][i]);
      for (size_t k = 0; k < got.size(); ++k) CHECK(rel_err(got[k], want[k]) < 1e-12);
    }
  }
  // No gradients: total norm 0; a parameter without grad is skipped.
  Tensor lone = tg::zeros({3}, {.dtype = tg::kFloat64, .requires_grad = true});
  CHECK(tg::nn::utils::clip_grad_norm_({lone}, 1.0) == 0.0);
  Tensor nan_grad = tg::zeros({1}, {.dtype = tg::kFloat64, .requires_grad = true});
  nan_grad.set_grad(tg::tensor(std::vector<double>{NAN}));
  CHECK_THROWS_WITH_AS(tg::nn::utils::clip_grad_norm_({nan_grad}, 1.0, 2.0, true),
                       doctest::Contains("error_if_nonfinite"), tg::Error);
}
