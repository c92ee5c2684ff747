// tg::optim::Adam and tg::optim::AdamW (torch.optim.Adam / AdamW, 1.13):
//   g = ±grad (+ wd·p for Adam's L2 decay);  AdamW first p *= 1 − lr·wd
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  amsgrad: v̂ = max(v̂, v)
//   p −= (lr / (1−β1^t)) · m / (sqrt(v or v̂)/sqrt(1−β2^t) + eps)
//   tg::optim::Adam opt(model.parameters(), {.lr = 1e-3, .betas = {0.9, 0.999}});
//   tg::optim::AdamW opt(model.parameters(), {.lr = 1e-3});  // weight_decay 1e-2
#pragma once
#include <utility>

#include "optim/optimizer.h"

namespace tg::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
  bool maximize = false;

  void validate() const;
  template <class F> void visit(F&& f) {
    f("lr", lr), f("beta1", betas.first), f("beta2", betas.second), f("eps", eps);
    f("weight_decay", weight_decay), f("amsgrad", amsgrad), f("maximize", maximize);
  }
};

// Same fields; decoupled weight decay with PyTorch's default of 1e-2.
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;

  void validate() const;
  template <class F> void visit(F&& f) {
    f("lr", lr), f("beta1", betas.first), f("beta2", betas.second), f("eps", eps);
    f("weight_decay", weight_decay), f("amsgrad", amsgrad), f("maximize", maximize);
  }
};

struct AdamState {
  int64_t step = 0;
  Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // max_exp_avg_sq only with amsgrad
  template <class F> void visit(F&& f) {
    f("exp_avg", exp_avg), f("exp_avg_sq", exp_avg_sq), f("max_exp_avg_sq", max_exp_avg_sq);
  }
};

namespace detail {
template <class Options>
void adam_begin_param(const Options& o, AdamState& s, const Tensor& p);
template <class Options>
void adam_update(const Options& o, bool decoupled, const AdamState& s, const Tensor& p,
                 const Tensor& g, int64_t lo, int64_t hi);
void adam_check_loaded(const AdamState& s, const std::string& prefix, const char* name);
}  // namespace detail

namespace detail {
// Adam and AdamW share state, kernel and checks; they differ only in whether
// weight decay is L2 (added to the gradient) or decoupled (applied to the weights).
template <class Options, bool kDecoupled>
class AdamFamily : public OptimizerBase<Options, AdamState> {
 public:
  using OptimizerBase<Options, AdamState>::OptimizerBase;

 protected:
  void begin_param(const Options& o, AdamState& s, const Tensor& p) override { adam_begin_param(o, s, p); }
  void update(const Options& o, AdamState& s, const Tensor& p, const Tensor& g, int64_t lo, int64_t hi) override {
    adam_update(o, kDecoupled, s, p, g, lo, hi);
  }
  void check_loaded_state(const Options&, const AdamState& s, const std::string& prefix) const override {
    adam_check_loaded(s, prefix, this->name());
  }
};
}  // namespace detail

class Adam : public detail::AdamFamily<AdamOptions, false> {
 public:
  Adam(std::vector<Tensor> params, AdamOptions o = {}) : AdamFamily("Adam", std::move(params), o) {}
  Adam(std::vector<ParamGroup<AdamOptions>> groups, AdamOptions defaults = {})
      : AdamFamily("Adam", std::move(groups), defaults) {}
};

class AdamW : public detail::AdamFamily<AdamWOptions, true> {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions o = {}) : AdamFamily("AdamW", std::move(params), o) {}
  AdamW(std::vector<ParamGroup<AdamWOptions>> groups, AdamWOptions defaults = {})
      : AdamFamily("AdamW", std::move(groups), defaults) {}
};

}  // namespace tg::optim
