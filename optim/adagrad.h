// tg::optim::Adagrad (torch.optim.Adagrad, 1.13, dense gradients):
//   g = ±grad + wd·p;  clr = lr / (1 + (t−1)·lr_decay);  s += g²;  p −= clr·g / (sqrt(s) + eps)
// The accumulator starts at initial_accumulator_value.
//   tg::optim::Adagrad opt(model.parameters(), {.lr = 0.1, .initial_accumulator_value = 0.1});
#pragma once
#include "optim/optimizer.h"

namespace tg::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool maximize = false;

  void validate() const;
  template <class F> void visit(F&& f) {
    f("lr", lr), f("lr_decay", lr_decay), f("weight_decay", weight_decay);
    f("initial_accumulator_value", initial_accumulator_value), f("eps", eps), f("maximize", maximize);
  }
};

struct AdagradState {
  int64_t step = 0;
  Tensor sum;
  template <class F> void visit(F&& f) { f("sum", sum); }
};

class Adagrad : public OptimizerBase<AdagradOptions, AdagradState> {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions o = {}) : OptimizerBase("Adagrad", std::move(params), o) {}
  Adagrad(std::vector<ParamGroup<AdagradOptions>> groups, AdagradOptions defaults = {})
      : OptimizerBase("Adagrad", std::move(groups), defaults) {}

 protected:
  void begin_param(const AdagradOptions& o, AdagradState& s, const Tensor& p) override;
  void update(const AdagradOptions& o, AdagradState& s, const Tensor& p, const Tensor& g, int64_t lo,
              int64_t hi) override;
  void check_loaded_state(const AdagradOptions& o, const AdagradState& s, const std::string& prefix) const override;
};

}  // namespace tg::optim
