// tg::optim::RMSprop (torch.optim.RMSprop, 1.13):
//   g = ±grad + wd·p;  s = α·s + (1−α)·g²;  centered: a = α·a + (1−α)·g, avg = sqrt(s − a²) + eps
//   else avg = sqrt(s) + eps;  momentum: b = μ·b + g/avg, p −= lr·b;  else p −= lr·g/avg
//   tg::optim::RMSprop opt(model.parameters(), {.lr = 1e-2, .momentum = 0.9, .centered = true});
#pragma once
#include "optim/optimizer.h"

namespace tg::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  bool maximize = false;

  void validate() const;
  template <class F> void visit(F&& f) {
    f("lr", lr), f("alpha", alpha), f("eps", eps), f("weight_decay", weight_decay);
    f("momentum", momentum), f("centered", centered), f("maximize", maximize);
  }
};

struct RMSpropState {
  int64_t step = 0;
  Tensor square_avg, grad_avg, momentum_buffer;  // grad_avg when centered, buffer when momentum > 0
  template <class F> void visit(F&& f) {
    f("square_avg", square_avg), f("grad_avg", grad_avg), f("momentum_buffer", momentum_buffer);
  }
};

class RMSprop : public OptimizerBase<RMSpropOptions, RMSpropState> {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions o = {}) : OptimizerBase("RMSprop", std::move(params), o) {}
  RMSprop(std::vector<ParamGroup<RMSpropOptions>> groups, RMSpropOptions defaults = {})
      : OptimizerBase("RMSprop", std::move(groups), defaults) {}

 protected:
  void begin_param(const RMSpropOptions& o, RMSpropState& s, const Tensor& p) override;
  void update(const RMSpropOptions& o, RMSpropState& s, const Tensor& p, const Tensor& g, int64_t lo,
              int64_t hi) override;
  void check_loaded_state(const RMSpropOptions& o, const RMSpropState& s, const std::string& prefix) const override;
};

}  // namespace tg::optim
