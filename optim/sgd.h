// tg::optim::SGD: stochastic gradient descent with momentum, dampening,
// Nesterov momentum, weight decay and maximize (torch.optim.SGD, 1.13):
//   g = ±grad + wd·p;  b = g (first step) or μ·b + (1−τ)·g;
//   g = nesterov ? g + μ·b : b;  p −= lr·g
// Plain, stochastic and mini-batch gradient descent are all this one update;
// they differ only in how many examples the loss (and so grad) averages over.
//   tg::optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace tg::optim {

struct SGDOptions {
  double lr = NAN;  // required
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;

  void validate() const;
  template <class F> void visit(F&& f) {
    f("lr", lr), f("momentum", momentum), f("dampening", dampening);
    f("weight_decay", weight_decay), f("nesterov", nesterov), f("maximize", maximize);
  }
};

struct SGDState {
  int64_t step = 0;
  Tensor momentum_buffer;     // undefined until the first step with momentum != 0
  bool fresh_buffer = false;  // transient: the buffer was created this step
  template <class F> void visit(F&& f) { f("momentum_buffer", momentum_buffer); }
};

class SGD : public OptimizerBase<SGDOptions, SGDState> {
 public:
  SGD(std::vector<Tensor> params, SGDOptions o) : OptimizerBase("SGD", std::move(params), o) {}
  SGD(std::vector<ParamGroup<SGDOptions>> groups, SGDOptions defaults = {})
      : OptimizerBase("SGD", std::move(groups), defaults) {}

 protected:
  void begin_param(const SGDOptions& o, SGDState& s, const Tensor& p) override;
  void update(const SGDOptions& o, SGDState& s, const Tensor& p, const Tensor& g, int64_t lo,
              int64_t hi) override;
};

}  // namespace tg::optim
