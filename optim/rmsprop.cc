// RMSprop: option checks, lazy buffers, and the fused kernel call.
#include "optim/rmsprop.h"

#include "tensor/kernels/optim.h"

namespace tg::optim {

void RMSpropOptions::validate() const {
  TG_CHECK(lr >= 0, "RMSprop: lr must be >= 0, got ", lr);
  TG_CHECK(eps >= 0, "RMSprop: eps must be >= 0, got ", eps);
  TG_CHECK(momentum >= 0, "RMSprop: momentum must be >= 0, got ", momentum);
  TG_CHECK(weight_decay >= 0, "RMSprop: weight_decay must be >= 0, got ", weight_decay);
  TG_CHECK(alpha >= 0, "RMSprop: alpha must be >= 0, got ", alpha);
}

void RMSprop::begin_param(const RMSpropOptions& o, RMSpropState& s, const Tensor& p) {
  if (!s.square_avg.defined()) s.square_avg = zeros_like(p);
  if (o.centered && !s.grad_avg.defined()) s.grad_avg = zeros_like(p);
  if (o.momentum > 0 && !s.momentum_buffer.defined()) s.momentum_buffer = zeros_like(p);
  ++s.step;
}

void RMSprop::update(const RMSpropOptions& o, RMSpropState& s, const Tensor& p, const Tensor& g, int64_t lo,
                     int64_t hi) {
  const kernels::RmspropStepArgs a{.lr = o.lr, .alpha = o.alpha, .eps = o.eps, .weight_decay = o.weight_decay,
                                   .momentum = o.momentum, .centered = o.centered, .maximize = o.maximize};
  visit_float_dtype(p.dtype(), [&](auto t) {
    using T = decltype(t);
    T* ga = o.centered ? s.grad_avg.data_ptr<T>() + lo : nullptr;
    T* buf = o.momentum > 0 ? s.momentum_buffer.data_ptr<T>() + lo : nullptr;
    kernels::rmsprop_step(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, s.square_avg.data_ptr<T>() + lo, ga, buf,
                          hi - lo, a);
  });
}

// grad_avg and momentum_buffer are not required: the first step that needs
// them makes them (begin_param), so a state saved while centered was off or
// momentum 0 loads (its own state_dict did not, after OneCycleLR turned
// momentum on).
void RMSprop::check_loaded_state(const RMSpropOptions&, const RMSpropState& s, const std::string& prefix) const {
  TG_CHECK(s.square_avg.defined(), "RMSprop.load_state_dict: ", prefix, "square_avg missing");
  detail::check_nonnegative_state(s.square_avg, "RMSprop", prefix + "square_avg");
}

}  // namespace tg::optim
