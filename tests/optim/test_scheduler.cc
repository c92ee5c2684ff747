// LR schedulers against PyTorch (tests/reference/lr_schedules.json, made by
// gen_sched.py): 100 steps of every schedule to 1e-12 relative, OneCycleLR's
// momentum / beta1 too, ReduceLROnPlateau on the recorded metrics; state
// round-trips; invalid options throw with clear messages.
//
// The schedulers only see an optimizer through tg::optim::Optimizer's lr and
// momentum accessors, so these tests drive them with a stand-in that has the
// param groups but no tensors (the real optimizers are tested with schedulers
// in test_optimizers.cc).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optim/scheduler.h"

using nlohmann::json;
namespace to = tg::optim;

namespace {

// Param groups with lr and momentum (or beta1), nothing else.
class GroupsOnly : public to::Optimizer {
 public:
  GroupsOnly(std::vector<double> lrs, to::MomentumKind kind, double momentum)
      : lrs_(std::move(lrs)), mom_(lrs_.size(), momentum), kind_(kind) {}
  const char* name() const override { return "GroupsOnly"; }
  void step() override {}
  void zero_grad(bool) override {}
  size_t num_param_groups() const override { return lrs_.size(); }
  double lr(size_t g) const override { return lrs_.at(g); }
  void set_lr(size_t g, double v) override { lrs_.at(g) = v; }
  to::MomentumKind momentum_kind() const override { return kind_; }
  double momentum(size_t g) const override { return mom_.at(g); }
  void set_momentum(size_t g, double v) override { mom_.at(g) = v; }
  std::vector<tg::Tensor> parameters() const override { return {}; }
  to::OptimizerState state_dict() const override { return {}; }
  void load_state_dict(const to::OptimizerState&) override {}

 private:
  std::vector<double> lrs_, mom_;
  to::MomentumKind kind_;
};

const json& schedules() {
  static const json j = [] {
    std::ifstream f(std::string(TG_TEST_REFERENCE_DIR) + "/lr_schedules.json");
    REQUIRE(f.good());
    return json::parse(f);
  }();
  return j;
}

const json& schedule(const std::string& name) {
  for (const auto& s : schedules()["schedules"])
    if (s["name"] == name) return s;
  FAIL("no schedule named ", name);
  static json none;
  return none;
}

double rel_err(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

// Runs `steps` iterations (opt.step(); sched.step()) and compares lrs[0..steps].
template <class Sched>
void check_sequence(GroupsOnly& opt, Sched& sched, const json& ref, const char* extra_key = nullptr) {
  const auto& lrs = ref["lrs"];
  double worst = 0, worst_extra = 0;
  for (size_t i = 0; i < lrs.size(); ++i) {
    if (i > 0) {
      opt.step();
      if constexpr (std::is_same_v<Sched, to::ReduceLROnPlateau>) sched.step(ref["metrics"][i - 1].get<double>());
      else sched.step();
    }
    INFO(ref["name"].get<std::string>(), " step ", i);
    const double want = lrs[i].get<double>();
    CHECK(rel_err(opt.lr(0), want) <= 1e-12);
    CHECK(sched.get_last_lr().at(0) == opt.lr(0));
    worst = std::max(worst, rel_err(opt.lr(0), want));
    if (extra_key) {
      const double m = ref[extra_key][i].get<double>();
      CHECK(rel_err(opt.momentum(0), m) <= 1e-12);
      worst_extra = std::max(worst_extra, rel_err(opt.momentum(0), m));
    }
  }
  MESSAGE(ref["name"].get<std::string>(), ": max rel error lr ", worst,
          extra_key ? " momentum " + std::to_string(worst_extra) : std::string());
}

}  // namespace

TEST_CASE("sched: StepLR, MultiStepLR, ExponentialLR match PyTorch") {
  {
    GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
    to::StepLR s(opt, {.step_size = 10, .gamma = 0.5});
    check_sequence(opt, s, schedule("step_lr"));
  }
  {
    GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
    to::MultiStepLR s(opt, {.milestones = {20, 50, 80}, .gamma = 0.3});
    check_sequence(opt, s, schedule("multistep_lr"));
  }
  {
    GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
    to::ExponentialLR s(opt, {.gamma = 0.97});
    check_sequence(opt, s, schedule("exponential_lr"));
  }
}

TEST_CASE("sched: CosineAnnealingLR matches PyTorch's recursive form past T_max") {
  GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
  to::CosineAnnealingLR s(opt, {.T_max = 30, .eta_min = 0.001});
  const json& ref = schedule("cosine_annealing_lr");
  check_sequence(opt, s, ref);
  // The chainable form stays within rounding of the closed form, past T_max too.
  CHECK(std::abs(opt.lr(0) - ref["closed_form"][100].get<double>()) < 1e-12);
}

TEST_CASE("sched: LinearLR warm-up matches PyTorch") {
  GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
  to::LinearLR s(opt, {.start_factor = 0.1, .end_factor = 1.0, .total_iters = 10});
  check_sequence(opt, s, schedule("linear_lr_warmup"));
}

TEST_CASE("sched: OneCycleLR cycles lr and momentum / beta1 like PyTorch") {
  const to::OneCycleLROptions o{.max_lr = 0.5, .total_steps = 101};
  {
    GroupsOnly opt({0.1}, to::MomentumKind::Momentum, 0.9);
    to::OneCycleLR s(opt, o);
    check_sequence(opt, s, schedule("one_cycle_lr"), "momentum");
  }
  {
    GroupsOnly opt({0.1}, to::MomentumKind::Beta1, 0.9);
    to::OneCycleLR s(opt, o);
    check_sequence(opt, s, schedule("one_cycle_lr_adam"), "beta1");
  }
  {
    GroupsOnly opt({0.1}, to::MomentumKind::Momentum, 0.9);
    to::OneCycleLR s(opt, o);
    for (int i = 0; i < 101; ++i) s.step();  // like PyTorch: epochs 0..total_steps are allowed
    CHECK_THROWS_WITH_AS(s.step(), doctest::Contains("total_steps is 101"), tg::Error);
  }
}

TEST_CASE("sched: ReduceLROnPlateau matches PyTorch (min/rel and max/abs with cooldown)") {
  {
    GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
    to::ReduceLROnPlateau s(opt, {.mode = to::PlateauMode::Min, .factor = 0.5, .patience = 3,
                                  .threshold = 1e-4});
    check_sequence(opt, s, schedule("reduce_lr_on_plateau"));
  }
  {
    GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
    to::ReduceLROnPlateau s(opt, {.mode = to::PlateauMode::Max, .factor = 0.5, .patience = 2,
                                  .threshold = 0.01, .threshold_mode = to::ThresholdMode::Abs,
                                  .cooldown = 2, .min_lr = 0.01});
    check_sequence(opt, s, schedule("reduce_lr_on_plateau_max_abs_cooldown"));
  }
}

TEST_CASE("sched: every group is scheduled from its own base lr") {
  GroupsOnly opt({0.1, 0.01}, to::MomentumKind::None, 0);
  to::CosineAnnealingLR s(opt, {.T_max = 10});
  for (int i = 0; i < 5; ++i) s.step();
  CHECK(opt.lr(1) == doctest::Approx(opt.lr(0) / 10).epsilon(1e-12));
  CHECK(s.get_last_lr().size() == 2);
}

TEST_CASE("sched: state_dict round trip resumes the same sequence") {
  // 40 steps straight vs 15 steps, save, a fresh scheduler on a fresh
  // optimizer at the saved lr, load, 25 more: identical lrs.
  GroupsOnly a({0.1}, to::MomentumKind::None, 0);
  to::CosineAnnealingLR sa(a, {.T_max = 12, .eta_min = 0.002});
  for (int i = 0; i < 15; ++i) sa.step();
  const std::string saved = sa.state_dict();
  GroupsOnly b({a.lr(0)}, to::MomentumKind::None, 0);
  to::CosineAnnealingLR sb(b, {.T_max = 12, .eta_min = 0.002});
  b.set_lr(0, a.lr(0));  // the optimizer's own state_dict restores its lr
  sb.load_state_dict(saved);
  CHECK(sb.last_epoch() == 15);
  for (int i = 0; i < 25; ++i) {
    sa.step();
    sb.step();
    CHECK(a.lr(0) == b.lr(0));
  }

  GroupsOnly c({0.1}, to::MomentumKind::None, 0);
  to::ReduceLROnPlateau pc(c, {.patience = 1});
  pc.step(1.0);
  pc.step(2.0);
  GroupsOnly d({0.1}, to::MomentumKind::None, 0);
  to::ReduceLROnPlateau pd(d, {.patience = 1});
  pd.load_state_dict(pc.state_dict());
  CHECK(pd.best() == 1.0);
  CHECK(pd.num_bad_epochs() == 1);
  pc.step(3.0);
  pd.step(3.0);
  CHECK(c.lr(0) == doctest::Approx(0.01));
  CHECK(d.lr(0) == doctest::Approx(0.01));

  CHECK_THROWS_WITH_AS(sb.load_state_dict("{not json"), doctest::Contains("not valid JSON"), tg::Error);
}

TEST_CASE("sched: invalid options throw with the option and value") {
  GroupsOnly opt({0.1}, to::MomentumKind::None, 0);
  CHECK_THROWS_WITH_AS(to::StepLR(opt, {.step_size = 0}), doctest::Contains("step_size must be positive, got 0"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::CosineAnnealingLR(opt, {.T_max = -3}), doctest::Contains("T_max must be positive, got -3"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::LinearLR(opt, {.start_factor = 1.5}), doctest::Contains("start_factor must be in (0, 1], got 1.5"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::ReduceLROnPlateau(opt, {.factor = 1.0}), doctest::Contains("factor must be in [0, 1), got 1"),
                       tg::Error);
  CHECK_THROWS_WITH_AS(to::OneCycleLR(opt, {.max_lr = 0.1, .total_steps = 10}),
                       doctest::Contains("cycle_momentum needs an optimizer with momentum"), tg::Error);
  CHECK_THROWS_WITH_AS(to::OneCycleLR(opt, {.max_lr = 0.1, .total_steps = 0}),
                       doctest::Contains("total_steps must be positive, got 0"), tg::Error);
}
