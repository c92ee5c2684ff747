// Adagrad: option checks, the accumulator, and the fused kernel call.
#include "optim/adagrad.h"

#include "tensor/kernels/optim.h"

namespace tg::optim {

void AdagradOptions::validate() const {
  TG_CHECK(lr >= 0, "Adagrad: lr must be >= 0, got ", lr);
  TG_CHECK(lr_decay >= 0, "Adagrad: lr_decay must be >= 0, got ", lr_decay);
  TG_CHECK(weight_decay >= 0, "Adagrad: weight_decay must be >= 0, got ", weight_decay);
  TG_CHECK(initial_accumulator_value >= 0, "Adagrad: initial_accumulator_value must be >= 0, got ",
           initial_accumulator_value);
  TG_CHECK(eps >= 0, "Adagrad: eps must be >= 0, got ", eps);
}

void Adagrad::begin_param(const AdagradOptions& o, AdagradState& s, const Tensor& p) {
  if (!s.sum.defined()) s.sum = full_like(p, o.initial_accumulator_value);
  ++s.step;
}

void Adagrad::update(const AdagradOptions& o, AdagradState& s, const Tensor& p, const Tensor& g, int64_t lo,
                     int64_t hi) {
  const kernels::AdagradStepArgs a{.lr = o.lr, .lr_decay = o.lr_decay, .weight_decay = o.weight_decay,
                                   .eps = o.eps, .step = s.step, .maximize = o.maximize};
  visit_float_dtype(p.dtype(), [&](auto t) {
    using T = decltype(t);
    kernels::adagrad_step(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, s.sum.data_ptr<T>() + lo, hi - lo, a);
  });
}

void Adagrad::check_loaded_state(const AdagradOptions&, const AdagradState& s, const std::string& prefix) const {
  TG_CHECK(s.sum.defined(), "Adagrad.load_state_dict: ", prefix, "sum missing");
  detail::check_nonnegative_state(s.sum, "Adagrad", prefix + "sum");
}

}  // namespace tg::optim
