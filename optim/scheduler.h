// Learning-rate schedulers: StepLR, MultiStepLR, ExponentialLR,
// CosineAnnealingLR, LinearLR, OneCycleLR (which also cycles momentum or
// Adam's beta1) and ReduceLROnPlateau.
//
// They follow torch.optim.lr_scheduler (1.13) value for value, including the
// recursive "chainable" forms PyTorch's step() uses (e.g. CosineAnnealingLR
// multiplies the current lr by a ratio of cosines, so past T_max the lr rises
// again exactly like PyTorch's). Protocol, as in PyTorch:
//   construction sets the lr for epoch 0 (LinearLR and OneCycleLR change it);
//   each training iteration calls opt.step() and then sched.step();
//   ReduceLROnPlateau::step(metric) once per evaluation.
// A scheduler writes the lr (and momentum) of every parameter group of the
// Optimizer it was given; its base lrs are the groups' initial lrs
// (Optimizer::initial_lr, PyTorch's group['initial_lr']: set by the first
// scheduler, so chained schedulers share them).
// State round-trips through a JSON string (state_dict / load_state_dict), to
// be stored as safetensors metadata next to the optimizer's; loading refuses
// counters (last_epoch, step_count, ...) outside [-1 or 0, 2^53].
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace tg::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  // Advance one epoch/iteration and write the new lr into the optimizer.
  void step();
  std::vector<double> get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  virtual std::string state_dict() const;
  virtual void load_state_dict(const std::string& json);

 protected:
  explicit LRScheduler(Optimizer& opt);
  // Sets base_lrs from the optimizer's initial lrs and takes step 0; derived
  // constructors call it last (PyTorch's _initial_step).
  void initial_step();
  // The chainable lr of every group for last_epoch_ (already advanced).
  virtual std::vector<double> get_lr() = 0;

  Optimizer& opt_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;
};

// lr *= gamma every step_size epochs.
struct StepLROptions {
  int64_t step_size = 0;
  double gamma = 0.1;
};
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, StepLROptions o);

 protected:
  std::vector<double> get_lr() override;
  StepLROptions o_;
};

// lr *= gamma at each milestone (a milestone listed k times multiplies by gamma^k).
struct MultiStepLROptions {
  std::vector<int64_t> milestones;
  double gamma = 0.1;
};
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, MultiStepLROptions o);

 protected:
  std::vector<double> get_lr() override;
  MultiStepLROptions o_;
};

// lr *= gamma every epoch.
struct ExponentialLROptions {
  double gamma = 0;
};
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, ExponentialLROptions o);

 protected:
  std::vector<double> get_lr() override;
  ExponentialLROptions o_;
};

// lr_t = eta_min + (base − eta_min)(1 + cos(π t / T_max)) / 2, in PyTorch's recursive form.
struct CosineAnnealingLROptions {
  int64_t T_max = 0;
  double eta_min = 0;
};
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, CosineAnnealingLROptions o);

 protected:
  std::vector<double> get_lr() override;
  CosineAnnealingLROptions o_;
};

// Linear warm-up: the factor goes from start_factor to end_factor over total_iters epochs.
struct LinearLROptions {
  double start_factor = 1.0 / 3;
  double end_factor = 1.0;
  int64_t total_iters = 5;
};
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, LinearLROptions o);

 protected:
  std::vector<double> get_lr() override;
  LinearLROptions o_;
};

// The 1cycle policy (Smith & Topin): lr rises from max_lr/div_factor to max_lr
// over pct_start of total_steps, then anneals to initial_lr/final_div_factor;
// momentum (SGD/RMSprop) or beta1 (Adam/AdamW) moves the opposite way between
// max_momentum and base_momentum. Step it once per batch, at most total_steps−1 times.
enum class AnnealStrategy { Cos, Linear };
struct OneCycleLROptions {
  double max_lr = 0;
  int64_t total_steps = 0;
  double pct_start = 0.3;
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
};
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, OneCycleLROptions o);

 protected:
  std::vector<double> get_lr() override;
  double anneal(double start, double end, double pct) const;
  struct Phase {
    double end_step;
    int start_lr, end_lr, start_momentum, end_momentum;  // 0 initial, 1 max, 2 min / 0 max_m, 1 base_m
  };
  OneCycleLROptions o_;
  std::vector<Phase> phases_;
  std::vector<double> initial_lrs_, max_lrs_, min_lrs_;
};

// Divides the lr by 1/factor when a metric has stopped improving for more
// than `patience` evaluations (PyTorch semantics, including cooldown, min_lr
// and eps: reductions smaller than eps are skipped).
enum class PlateauMode { Min, Max };
enum class ThresholdMode { Rel, Abs };
struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::Min;
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  int64_t cooldown = 0;
  double min_lr = 0;  // for every group; see min_lrs for one per group
  double eps = 1e-8;
  std::vector<double> min_lrs = {};
};
class ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(Optimizer& opt, ReduceLROnPlateauOptions o);
  void step(double metric);
  std::vector<double> get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::string state_dict() const;
  void load_state_dict(const std::string& json);

 private:
  bool is_better(double a, double best) const;
  Optimizer& opt_;
  ReduceLROnPlateauOptions o_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace tg::optim
