// clip_grad_norm_ and clip_grad_value_ (see clip.h): per-tensor norms in
// double, combined like torch.norm(torch.stack(norms), p), then one in-place
// scale of every gradient under no-grad.
#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/kernels/elementwise.h"

namespace tg::nn::utils {

namespace {

// ‖g‖_p of one gradient (p = inf: max |g|), accumulated in double.
double tensor_norm(const Tensor& g0, double p) {
  const Tensor g = g0.contiguous();
  return visit_float_dtype(g.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* x = g.data_ptr<T>();
    const int64_t n = g.numel();
    double acc = 0;
    if (std::isinf(p)) {
      for (int64_t i = 0; i < n; ++i) {
        const double a = std::abs(double(x[i]));
        if (a > acc || std::isnan(a)) acc = a;
      }
      return acc;
    }
    if (p == 2) {
      for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * double(x[i]);
      return std::sqrt(acc);
    }
    if (p == 1) {
      for (int64_t i = 0; i < n; ++i) acc += std::abs(double(x[i]));
      return acc;
    }
    for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(double(x[i])), p);
    return std::pow(acc, 1.0 / p);
  });
}

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) {
    TG_CHECK(p.defined(), "clip_grad: a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (g.defined()) out.push_back(g);
  }
  return out;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  TG_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 (or kInfNorm), got ", norm_type);
  const std::vector<Tensor> grads = grads_of(params);
  if (grads.empty()) return 0.0;
  double total = 0;
  if (std::isinf(norm_type)) {
    for (const auto& g : grads) {
      const double n = tensor_norm(g, norm_type);
      if (n > total || std::isnan(n)) total = n;
    }
  } else {
    std::vector<double> norms;
    for (const auto& g : grads) norms.push_back(tensor_norm(g, norm_type));
    double acc = 0;
    if (norm_type == 2) {
      for (double n : norms) acc += n * n;
      total = std::sqrt(acc);
    } else if (norm_type == 1) {
      for (double n : norms) acc += n;
      total = acc;
    } else {
      for (double n : norms) acc += std::pow(n, norm_type);
      total = std::pow(acc, 1.0 / norm_type);
    }
  }
  TG_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
           " of the gradients is ", total, "; pass error_if_nonfinite = false to clip anyway");
  // A NaN norm makes every gradient NaN, as PyTorch (min(NaN, 1) is NaN there);
  // they were left as they were.
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {
    NoGradGuard no_grad;
    for (auto g : grads) g.mul_(coef);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  TG_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (auto g : grads_of(params)) {
    // NaN stays NaN (as PyTorch); a non-contiguous .grad is clamped in a
    // contiguous copy the same way (tg::clamp mapped NaN to -clip_value).
    // The clamp kernel (a scalar loop here was 10x PyTorch), through a block
    // in L1: its operands must not alias.
    Tensor c = g.is_contiguous() ? g : g.contiguous();
    visit_float_dtype(c.dtype(), [&](auto t) {
      using T = decltype(t);
      T* x = c.data_ptr<T>();
      constexpr int64_t kBlock = 1024;
      T buf[kBlock];
      for (int64_t i = 0; i < c.numel(); i += kBlock) {
        const int64_t n = std::min(kBlock, c.numel() - i);
        kernels::unary(kernels::UnaryOp::Clamp, x + i, buf, n, -clip_value, clip_value);
        std::copy(buf, buf + n, x + i);
      }
    });
    if (c.impl() != g.impl()) g.copy_(c);
    g.bump_version();
  }
}

}  // namespace tg::nn::utils
