// Adam and AdamW: option checks, lazy moment buffers, and the fused kernel call
// (one kernel for both; AdamW sets `decoupled`).
#include "optim/adam.h"

#include "tensor/kernels/optim.h"

namespace tg::optim {

namespace {
template <class Options>
void validate_adam(const Options& o, const char* name) {
  TG_CHECK(o.lr >= 0, name, ": lr must be >= 0, got ", o.lr);
  TG_CHECK(o.eps >= 0, name, ": eps must be >= 0, got ", o.eps);
  TG_CHECK(o.betas.first >= 0 && o.betas.first < 1, name, ": betas.first (beta1) must be in [0, 1), got ",
           o.betas.first);
  TG_CHECK(o.betas.second >= 0 && o.betas.second < 1, name,
           ": betas.second (beta2) must be in [0, 1), got ", o.betas.second);
  TG_CHECK(o.weight_decay >= 0, name, ": weight_decay must be >= 0, got ", o.weight_decay);
}
}  // namespace

void AdamOptions::validate() const { validate_adam(*this, "Adam"); }
void AdamWOptions::validate() const { validate_adam(*this, "AdamW"); }

namespace detail {

template <class Options>
void adam_begin_param(const Options& o, AdamState& s, const Tensor& p) {
  if (!s.exp_avg.defined()) s.exp_avg = zeros_like(p);
  if (!s.exp_avg_sq.defined()) s.exp_avg_sq = zeros_like(p);
  if (o.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros_like(p);
  ++s.step;
}

template <class Options>
void adam_update(const Options& o, bool decoupled, const AdamState& s, const Tensor& p, const Tensor& g,
                 int64_t lo, int64_t hi) {
  const kernels::AdamStepArgs a{.lr = o.lr, .beta1 = o.betas.first, .beta2 = o.betas.second, .eps = o.eps,
                                .weight_decay = o.weight_decay, .step = s.step, .amsgrad = o.amsgrad,
                                .maximize = o.maximize, .decoupled = decoupled};
  visit_float_dtype(p.dtype(), [&](auto t) {
    using T = decltype(t);
    T* vmax = o.amsgrad ? s.max_exp_avg_sq.data_ptr<T>() + lo : nullptr;
    kernels::adam_step(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, s.exp_avg.data_ptr<T>() + lo,
                       s.exp_avg_sq.data_ptr<T>() + lo, vmax, hi - lo, a);
  });
}

// max_exp_avg_sq is not required: the first step with amsgrad on makes it
// (begin_param), so a state saved before amsgrad was turned on loads (its own
// state_dict did not).
void adam_check_loaded(const AdamState& s, const std::string& prefix, const char* name) {
  TG_CHECK(s.exp_avg.defined() && s.exp_avg_sq.defined(), name, ".load_state_dict: ", prefix,
           "exp_avg / exp_avg_sq missing");
  check_nonnegative_state(s.exp_avg_sq, name, prefix + "exp_avg_sq");
  check_nonnegative_state(s.max_exp_avg_sq, name, prefix + "max_exp_avg_sq");
}

template void adam_begin_param(const AdamOptions&, AdamState&, const Tensor&);
template void adam_begin_param(const AdamWOptions&, AdamState&, const Tensor&);
template void adam_update(const AdamOptions&, bool, const AdamState&, const Tensor&, const Tensor&, int64_t, int64_t);
template void adam_update(const AdamWOptions&, bool, const AdamState&, const Tensor&, const Tensor&, int64_t, int64_t);

}  // namespace detail
}  // namespace tg::optim
