// SGD: option checks, lazy momentum buffer, and the fused kernel call.
#include "optim/sgd.h"

#include "tensor/kernels/optim.h"

namespace tg::optim {

void SGDOptions::validate() const {
  TG_CHECK(!std::isnan(lr), "SGD: lr must be set, e.g. {.lr = 0.01}");
  TG_CHECK(lr >= 0, "SGD: lr must be >= 0, got ", lr);
  TG_CHECK(momentum >= 0, "SGD: momentum must be >= 0, got ", momentum);
  TG_CHECK(weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", weight_decay);
  TG_CHECK(!nesterov || (momentum > 0 && dampening == 0),
           "SGD: nesterov requires momentum > 0 and dampening = 0, got momentum = ", momentum,
           ", dampening = ", dampening);
}

void SGD::begin_param(const SGDOptions& o, SGDState& s, const Tensor& p) {
  ++s.step;
  s.fresh_buffer = false;
  if (o.momentum != 0 && !s.momentum_buffer.defined()) {
    s.momentum_buffer = empty_like(p);  // filled with the gradient by the kernel
    s.fresh_buffer = true;
  }
}

void SGD::update(const SGDOptions& o, SGDState& s, const Tensor& p, const Tensor& g, int64_t lo, int64_t hi) {
  const kernels::SgdStepArgs a{.lr = o.lr, .momentum = o.momentum, .dampening = o.dampening,
                               .weight_decay = o.weight_decay, .nesterov = o.nesterov,
                               .maximize = o.maximize, .init_buffer = s.fresh_buffer};
  visit_float_dtype(p.dtype(), [&](auto t) {
    using T = decltype(t);
    T* buf = o.momentum != 0 ? s.momentum_buffer.data_ptr<T>() + lo : nullptr;
    kernels::sgd_step(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, buf, hi - lo, a);
  });
}

}  // namespace tg::optim
