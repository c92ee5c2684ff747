// Learning-rate schedulers, line for line after torch/optim/lr_scheduler.py
// (1.13): each get_lr() is PyTorch's chainable form, evaluated with the same
// operations in the same order so that the doubles agree to the last bits.
#include "optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <nlohmann/json.hpp>

namespace tg::optim {

namespace {
using json = nlohmann::json;

// Python's a % b for b > 0 (never negative).
int64_t py_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// JSON has no infinity: store doubles as their shortest round-trip text.
json dbl(double v) { return detail::format_double(v); }
double undbl_value(const json& v, const char* key) {
  if (v.is_number()) return v.get<double>();
  TG_CHECK(v.is_string(), "scheduler load_state_dict: '", key, "' must be a number, got a JSON ", v.type_name());
  return detail::parse_double(v.get<std::string>(), key);
}
double undbl(const json& j, const char* key) {
  TG_CHECK(j.contains(key), "scheduler load_state_dict: missing '", key, "'");
  return undbl_value(j[key], key);
}
// Counters are JSON integers: a double such as 1e300 does not fit an int64.
int64_t unint(const json& j, const char* key) {
  TG_CHECK(j.contains(key), "scheduler load_state_dict: missing '", key, "'");
  const json& v = j[key];
  TG_CHECK(v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)),
           "scheduler load_state_dict: '", key, "' must be an integer, got ",
           v.is_number() ? v.dump() : std::string("a JSON ") + v.type_name());
  return v.get<int64_t>();
}
// A counter that the next steps increment: bounded so that it cannot overflow
// (INT64_MAX wrapped to INT64_MIN at the next step).
int64_t unint(const json& j, const char* key, int64_t lo, int64_t hi) {
  const int64_t v = unint(j, key);
  TG_CHECK(v >= lo && v <= hi, "scheduler load_state_dict: '", key, "' must be in [", lo, ", ", hi, "], got ", v);
  return v;
}
json dbls(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(dbl(x));
  return a;
}
std::vector<double> undbls(const json& j, const char* key) {
  TG_CHECK(j.contains(key) && j[key].is_array(), "scheduler load_state_dict: missing list '", key, "'");
  std::vector<double> out;
  for (const auto& x : j[key]) out.push_back(undbl_value(x, key));
  return out;
}
json parse(const std::string& s) {
  try {
    return json::parse(s);
  } catch (const std::exception& e) {
    tg::detail::throw_error("scheduler load_state_dict: not valid JSON: ", e.what());
  }
}
}  // namespace

// ---------------------------------------------------------------- base
LRScheduler::LRScheduler(Optimizer& opt) : opt_(opt) {
  TG_CHECK(opt.num_param_groups() > 0, "LRScheduler: the optimizer has no parameter groups");
}

void LRScheduler::initial_step() {
  if (base_lrs_.empty())
    for (size_t g = 0; g < opt_.num_param_groups(); ++g) base_lrs_.push_back(opt_.initial_lr(g));
  step_count_ = 0;
  step();
}

// A group added after the scheduler was made has no base lr here (its
// per-group vectors were read past their end).
void check_groups(size_t have, const Optimizer& opt, const char* who) {
  TG_CHECK(have == opt.num_param_groups(), who, ": the optimizer has ", opt.num_param_groups(),
           " parameter groups but the scheduler was made for ", have,
           " (a group added after it); make the scheduler after add_param_group");
}

void LRScheduler::step() {
  check_groups(base_lrs_.size(), opt_, "LRScheduler.step");
  ++step_count_;
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  for (size_t g = 0; g < lrs.size(); ++g) opt_.set_lr(g, lrs[g]);
  last_lr_ = lrs;
}

std::string LRScheduler::state_dict() const {
  json j;
  j["last_epoch"] = last_epoch_;
  j["step_count"] = step_count_;
  j["base_lrs"] = dbls(base_lrs_);
  j["last_lr"] = dbls(last_lr_);
  return j.dump();
}

void LRScheduler::load_state_dict(const std::string& s) {
  const json j = parse(s);
  std::vector<double> base = undbls(j, "base_lrs"), last = undbls(j, "last_lr");
  TG_CHECK(base.size() == opt_.num_param_groups(), "scheduler load_state_dict: the state has ",
           base.size(), " base lrs, the optimizer has ", opt_.num_param_groups(), " groups");
  // -1 and 0: a scheduler before its initial step (construction takes it)
  const int64_t last_epoch = unint(j, "last_epoch", -1, kMaxLoadedCount),
                step_count = unint(j, "step_count", 0, kMaxLoadedCount);
  last_epoch_ = last_epoch;
  step_count_ = step_count;
  base_lrs_ = std::move(base);
  last_lr_ = std::move(last);
}

// ---------------------------------------------------------------- StepLR
StepLR::StepLR(Optimizer& opt, StepLROptions o) : LRScheduler(opt), o_(o) {
  TG_CHECK(o.step_size > 0, "StepLR: step_size must be positive, got ", o.step_size);
  initial_step();
}
std::vector<double> StepLR::get_lr() {
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
    const double lr = opt_.lr(g);
    out.push_back(last_epoch_ == 0 || last_epoch_ % o_.step_size != 0 ? lr : lr * o_.gamma);
  }
  return out;
}

// ---------------------------------------------------------------- MultiStepLR
MultiStepLR::MultiStepLR(Optimizer& opt, MultiStepLROptions o) : LRScheduler(opt), o_(std::move(o)) {
  initial_step();
}
std::vector<double> MultiStepLR::get_lr() {
  const auto count = std::count(o_.milestones.begin(), o_.milestones.end(), last_epoch_);
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
    const double lr = opt_.lr(g);
    out.push_back(count == 0 ? lr : lr * std::pow(o_.gamma, double(count)));
  }
  return out;
}

// ---------------------------------------------------------------- ExponentialLR
ExponentialLR::ExponentialLR(Optimizer& opt, ExponentialLROptions o) : LRScheduler(opt), o_(o) {
  initial_step();
}
std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g)
    out.push_back(last_epoch_ == 0 ? opt_.lr(g) : opt_.lr(g) * o_.gamma);
  return out;
}

// ---------------------------------------------------------------- CosineAnnealingLR
CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, CosineAnnealingLROptions o)
    : LRScheduler(opt), o_(o) {
  TG_CHECK(o.T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", o.T_max);
  initial_step();
}
std::vector<double> CosineAnnealingLR::get_lr() {
  constexpr double pi = std::numbers::pi;
  const double T = double(o_.T_max), t = double(last_epoch_), eta = o_.eta_min;
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
    const double lr = opt_.lr(g), base = base_lrs_[g];
    if (last_epoch_ == 0) {
      out.push_back(lr);
    } else if (step_count_ == 1 && last_epoch_ > 0) {
      out.push_back(eta + (base - eta) * (1 + std::cos(t * pi / T)) / 2);
    } else if (py_mod(last_epoch_ - 1 - o_.T_max, 2 * o_.T_max) == 0) {
      out.push_back(lr + (base - eta) * (1 - std::cos(pi / T)) / 2);
    } else {
      out.push_back((1 + std::cos(pi * t / T)) / (1 + std::cos(pi * (t - 1) / T)) * (lr - eta) + eta);
    }
  }
  return out;
}

// ---------------------------------------------------------------- LinearLR
LinearLR::LinearLR(Optimizer& opt, LinearLROptions o) : LRScheduler(opt), o_(o) {
  TG_CHECK(o.start_factor > 0 && o.start_factor <= 1, "LinearLR: start_factor must be in (0, 1], got ",
           o.start_factor);
  TG_CHECK(o.end_factor >= 0 && o.end_factor <= 1, "LinearLR: end_factor must be in [0, 1], got ",
           o.end_factor);
  TG_CHECK(o.total_iters > 0, "LinearLR: total_iters must be positive, got ", o.total_iters);
  initial_step();
}
std::vector<double> LinearLR::get_lr() {
  const double s = o_.start_factor, e = o_.end_factor;
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
    const double lr = opt_.lr(g);
    if (last_epoch_ == 0) out.push_back(lr * s);
    else if (last_epoch_ > o_.total_iters) out.push_back(lr);
    else
      out.push_back(lr * (1. + (e - s) / (double(o_.total_iters) * s + double(last_epoch_ - 1) * (e - s))));
  }
  return out;
}

// ---------------------------------------------------------------- OneCycleLR
OneCycleLR::OneCycleLR(Optimizer& opt, OneCycleLROptions o) : LRScheduler(opt), o_(o) {
  TG_CHECK(o.total_steps > 0, "OneCycleLR: total_steps must be positive, got ", o.total_steps);
  TG_CHECK(o.max_lr > 0, "OneCycleLR: max_lr must be positive, got ", o.max_lr);
  TG_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got ",
           o.pct_start);
  TG_CHECK(o.div_factor > 0 && o.final_div_factor > 0, "OneCycleLR: div_factor and final_div_factor must be positive, got ",
           o.div_factor, " and ", o.final_div_factor);
  const double n = double(o.total_steps);
  if (o.three_phase) {
    phases_ = {{o.pct_start * n - 1, 0, 1, 0, 1},
               {2 * o.pct_start * n - 2, 1, 0, 1, 0},
               {n - 1, 0, 2, 0, 0}};
  } else {
    phases_ = {{o.pct_start * n - 1, 0, 1, 0, 1}, {n - 1, 1, 2, 1, 0}};
  }
  for (size_t g = 0; g < opt.num_param_groups(); ++g) {
    initial_lrs_.push_back(o.max_lr / o.div_factor);
    max_lrs_.push_back(o.max_lr);
    min_lrs_.push_back(initial_lrs_.back() / o.final_div_factor);
  }
  if (o.cycle_momentum) {
    TG_CHECK(opt.momentum_kind() != MomentumKind::None, "OneCycleLR: cycle_momentum needs an optimizer with "
             "momentum or betas, ", opt.name(), " has neither (set cycle_momentum = false)");
    for (size_t g = 0; g < opt.num_param_groups(); ++g) opt.set_momentum(g, o.max_momentum);
  }
  base_lrs_ = initial_lrs_;  // PyTorch: group['initial_lr'] = max_lr / div_factor
  for (size_t g = 0; g < opt.num_param_groups(); ++g) opt.set_initial_lr(g, initial_lrs_[g]);
  initial_step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (o_.anneal_strategy == AnnealStrategy::Cos) {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  TG_CHECK(last_epoch_ <= o_.total_steps, "OneCycleLR: tried to step ", last_epoch_ + 1,
           " times; total_steps is ", o_.total_steps);
  const double step_num = double(last_epoch_);
  std::vector<double> out;
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
    const double lrs[3] = {initial_lrs_[g], max_lrs_[g], min_lrs_[g]};
    const double moms[2] = {o_.max_momentum, o_.base_momentum};
    double start_step = 0, lr = 0, mom = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (step_num <= ph.end_step || i == phases_.size() - 1) {
        // A phase that ends where it starts would be 0 / 0: the lr and momentum
        // became NaN (PyTorch raises ZeroDivisionError, in the constructor when
        // pct_start * total_steps = 1).
        TG_CHECK(ph.end_step != start_step, "OneCycleLR: phase ", i + 1, " of ", phases_.size(),
                 " has no steps at step ", last_epoch_, " (pct_start ", o_.pct_start, ", total_steps ", o_.total_steps,
                 "); change pct_start or total_steps");
        const double pct = (step_num - start_step) / (ph.end_step - start_step);
        lr = anneal(lrs[ph.start_lr], lrs[ph.end_lr], pct);
        mom = anneal(moms[ph.start_momentum], moms[ph.end_momentum], pct);
        break;
      }
      start_step = ph.end_step;
    }
    out.push_back(lr);
    if (o_.cycle_momentum) opt_.set_momentum(g, mom);
  }
  return out;
}

// ---------------------------------------------------------------- ReduceLROnPlateau
ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, ReduceLROnPlateauOptions o) : opt_(opt), o_(std::move(o)) {
  TG_CHECK(o_.factor < 1.0 && o_.factor >= 0, "ReduceLROnPlateau: factor must be in [0, 1), got ", o_.factor);
  TG_CHECK(o_.patience >= 0, "ReduceLROnPlateau: patience must be >= 0, got ", o_.patience);
  TG_CHECK(o_.cooldown >= 0, "ReduceLROnPlateau: cooldown must be >= 0, got ", o_.cooldown);
  if (o_.min_lrs.empty()) {
    min_lrs_.assign(opt.num_param_groups(), o_.min_lr);
  } else {
    TG_CHECK(o_.min_lrs.size() == opt.num_param_groups(), "ReduceLROnPlateau: expected ",
             opt.num_param_groups(), " min_lrs, got ", o_.min_lrs.size());
    min_lrs_ = o_.min_lrs;
  }
  best_ = o_.mode == PlateauMode::Min ? std::numeric_limits<double>::infinity()
                                      : -std::numeric_limits<double>::infinity();
  for (size_t g = 0; g < opt.num_param_groups(); ++g) last_lr_.push_back(opt.lr(g));
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (o_.mode == PlateauMode::Min && o_.threshold_mode == ThresholdMode::Rel) return a < best * (1. - o_.threshold);
  if (o_.mode == PlateauMode::Min) return a < best - o_.threshold;
  if (o_.threshold_mode == ThresholdMode::Rel) return a > best * (o_.threshold + 1.);
  return a > best + o_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  check_groups(min_lrs_.size(), opt_, "ReduceLROnPlateau.step");
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // ignore bad epochs in cooldown
  }
  if (num_bad_epochs_ > o_.patience) {
    for (size_t g = 0; g < opt_.num_param_groups(); ++g) {
      const double old_lr = opt_.lr(g);
      const double new_lr = std::max(old_lr * o_.factor, min_lrs_[g]);
      if (old_lr - new_lr > o_.eps) opt_.set_lr(g, new_lr);
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_.clear();
  for (size_t g = 0; g < opt_.num_param_groups(); ++g) last_lr_.push_back(opt_.lr(g));
}

std::string ReduceLROnPlateau::state_dict() const {
  json j;
  j["best"] = dbl(best_);
  j["num_bad_epochs"] = num_bad_epochs_;
  j["cooldown_counter"] = cooldown_counter_;
  j["last_epoch"] = last_epoch_;
  j["last_lr"] = dbls(last_lr_);
  return j.dump();
}

void ReduceLROnPlateau::load_state_dict(const std::string& s) {
  const json j = parse(s);
  // parsed first, assigned after: a bad state leaves the scheduler as it was
  const double best = undbl(j, "best");
  const int64_t bad = unint(j, "num_bad_epochs", 0, kMaxLoadedCount),
                cooldown = unint(j, "cooldown_counter", 0, INT64_MAX),  // only counts down, from the cooldown option
                last_epoch = unint(j, "last_epoch", 0, kMaxLoadedCount);
  std::vector<double> last = undbls(j, "last_lr");
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  last_epoch_ = last_epoch;
  last_lr_ = std::move(last);
}

}  // namespace tg::optim
