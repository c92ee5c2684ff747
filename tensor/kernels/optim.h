// Fused optimizer updates: one pass over a parameter's contiguous span that
// reads the gradient and the optimizer state and writes the new parameter and
// state in place. These are the bodies of tg::optim's step() functions.
//
// The math and its operation order follow PyTorch 1.13's single-tensor
// (foreach=False) torch.optim code exactly, operation by operation, with the
// hyper-parameters computed in double and rounded once to the element type
// (as PyTorch does when a Python float meets a float32 tensor):
//
//   SGD      g = ±grad (+ wd·p);  b = g (first step) | b·μ + (1−τ)·g;
//            g = nesterov ? g + μ·b : b;  p = p + (−lr)·g
//   Adam     g = ±grad (+ wd·p)          [AdamW: p = p·(1 − lr·wd) first]
//            m = m·β1 + (1−β1)·g;  v = v·β2 + ((1−β2)·g)·g;  [v̂ = max(v̂, v)]
//            denom = sqrt(v or v̂) / sqrt(1−β2^t) + eps
//            p = p + ((−lr/(1−β1^t))·m) / denom
//   RMSprop  g = ±grad (+ wd·p);  s = s·α + ((1−α)·g)·g
//            centered: a = a·α + (1−α)·g;  avg = sqrt(s + (−a)·a) + eps, else sqrt(s) + eps
//            momentum: b = b·μ + g/avg;  p = p + (−lr)·b, else p = p + ((−lr)·g)/avg
//   Adagrad  g = ±grad (+ wd·p);  clr = lr / (1 + (t−1)·lr_decay)
//            s = s + g·g;  p = p + ((−clr)·g) / (sqrt(s) + eps)
//
// The SIMD code never fuses a multiply into an add (no FMA), so every compiled
// target produces bit-identical results to the scalar twins (`*_ref`), and the
// update does not depend on the CPU. Kernels never allocate, throw or spawn
// threads; pointers need no alignment, n may be anything, and state pointers
// not used by the chosen options may be null (see each struct).
#pragma once
#include <cmath>
#include <cstdint>

namespace tg::kernels {

struct SgdStepArgs {
  double lr = 0;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
  bool maximize = false;
  // The momentum buffer holds nothing yet: it becomes a copy of the gradient
  // (PyTorch's torch.clone(d_p) on the first step), without dampening.
  bool init_buffer = false;
};

struct AdamStepArgs {
  double lr = 0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  int64_t step = 1;  // the step count after incrementing (1 on the first update)
  bool amsgrad = false;
  bool maximize = false;
  bool decoupled = false;  // AdamW: p *= 1 − lr·wd instead of g += wd·p
};

struct RmspropStepArgs {
  double lr = 0;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
  bool maximize = false;
};

struct AdagradStepArgs {
  double lr = 0;
  double lr_decay = 0;
  double weight_decay = 0;
  double eps = 1e-10;
  int64_t step = 1;  // after incrementing
  bool maximize = false;
};

// momentum_buf: required when momentum != 0, else ignored (may be null).
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a);
void sgd_step(double* param, const double* grad, double* momentum_buf, int64_t n, const SgdStepArgs& a);
// exp_avg, exp_avg_sq: required. max_exp_avg_sq: required with amsgrad, else ignored.
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, int64_t n, const AdamStepArgs& a);
void adam_step(double* param, const double* grad, double* exp_avg, double* exp_avg_sq,
               double* max_exp_avg_sq, int64_t n, const AdamStepArgs& a);
// square_avg: required. grad_avg: required when centered. momentum_buf: when momentum > 0.
void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg,
                  float* momentum_buf, int64_t n, const RmspropStepArgs& a);
void rmsprop_step(double* param, const double* grad, double* square_avg, double* grad_avg,
                  double* momentum_buf, int64_t n, const RmspropStepArgs& a);
// sum: required (starts at initial_accumulator_value).
void adagrad_step(float* param, const float* grad, float* sum, int64_t n, const AdagradStepArgs& a);
void adagrad_step(double* param, const double* grad, double* sum, int64_t n, const AdagradStepArgs& a);

// Scalar twins: the same math one element at a time, in plain C++.
void sgd_step_ref(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdStepArgs& a);
void sgd_step_ref(double* param, const double* grad, double* momentum_buf, int64_t n, const SgdStepArgs& a);
void adam_step_ref(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                   float* max_exp_avg_sq, int64_t n, const AdamStepArgs& a);
void adam_step_ref(double* param, const double* grad, double* exp_avg, double* exp_avg_sq,
                   double* max_exp_avg_sq, int64_t n, const AdamStepArgs& a);
void rmsprop_step_ref(float* param, const float* grad, float* square_avg, float* grad_avg,
                      float* momentum_buf, int64_t n, const RmspropStepArgs& a);
void rmsprop_step_ref(double* param, const double* grad, double* square_avg, double* grad_avg,
                      double* momentum_buf, int64_t n, const RmspropStepArgs& a);
void adagrad_step_ref(float* param, const float* grad, float* sum, int64_t n, const AdagradStepArgs& a);
void adagrad_step_ref(double* param, const double* grad, double* sum, int64_t n, const AdagradStepArgs& a);

// ---- the per-call scalars, computed in double and rounded once to T ----
// Shared by the SIMD code and the scalar twins so both see the same values.
template <class T>
struct SgdScalars {
  T weight_decay, momentum, one_minus_dampening, neg_lr;
  explicit SgdScalars(const SgdStepArgs& a)
      : weight_decay(T(a.weight_decay)), momentum(T(a.momentum)),
        one_minus_dampening(T(1 - a.dampening)), neg_lr(T(-a.lr)) {}
};

template <class T>
struct AdamScalars {
  T decay;  // AdamW's 1 − lr·wd
  T weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2;
  T bias_correction2_sqrt, eps, neg_step_size;
  explicit AdamScalars(const AdamStepArgs& a)
      : decay(T(1 - a.lr * a.weight_decay)), weight_decay(T(a.weight_decay)), beta1(T(a.beta1)),
        one_minus_beta1(T(1 - a.beta1)), beta2(T(a.beta2)), one_minus_beta2(T(1 - a.beta2)),
        bias_correction2_sqrt(T(std::sqrt(1 - std::pow(a.beta2, double(a.step))))), eps(T(a.eps)),
        neg_step_size(T(-(a.lr / (1 - std::pow(a.beta1, double(a.step)))))) {}
};

template <class T>
struct RmspropScalars {
  T weight_decay, alpha, one_minus_alpha, eps, momentum, neg_lr;
  explicit RmspropScalars(const RmspropStepArgs& a)
      : weight_decay(T(a.weight_decay)), alpha(T(a.alpha)), one_minus_alpha(T(1 - a.alpha)),
        eps(T(a.eps)), momentum(T(a.momentum)), neg_lr(T(-a.lr)) {}
};

template <class T>
struct AdagradScalars {
  T weight_decay, eps, neg_clr;
  explicit AdagradScalars(const AdagradStepArgs& a)
      : weight_decay(T(a.weight_decay)), eps(T(a.eps)),
        neg_clr(T(-(a.lr / (1 + double(a.step - 1) * a.lr_decay)))) {}
};

}  // namespace tg::kernels
