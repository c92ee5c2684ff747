// clip_grad_norm_ and clip_grad_value_ (see clip.h): per-tensor norms in
// double (Highway kernels over fixed chunks, combined in chunk order),
// combined like torch.norm(torch.stack(norms), p), then one in-place pass
// (mul_) per gradient under no-grad.
#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/parallel.h"

namespace tg::nn::utils {

namespace {

// ‖g‖_p of every gradient (p = inf: max |g|), accumulated in double. Each
// gradient is cut into fixed kReduceChunk chunks; one parallel region runs
// every (gradient, chunk) task with the Highway kernels (p finite:
// kernels::abs_pow_sum, Σ|g|^p in double lanes; inf: kernels::max and min,
// max |g| = max(|max g|, |min g|)), and each gradient's chunk results are
// combined in chunk order: the same bits for any thread count. A NaN element
// makes that gradient's norm NaN (for p = inf too).
std::vector<double> tensor_norms(const std::vector<Tensor>& grads, double p) {
  const bool inf = std::isinf(p);
  struct Task {
    size_t g;
    int64_t lo, hi;
  };
  std::vector<Tensor> gc;  // contiguous (a non-contiguous .grad is copied)
  std::vector<const void*> base;
  std::vector<Task> tasks;
  int64_t total = 0;
  for (size_t k = 0; k < grads.size(); ++k) {
    gc.push_back(grads[k].contiguous());
    // (data_ptr checks the dtype here, outside the parallel region)
    base.push_back(visit_float_dtype(gc.back().dtype(), [&](auto z) -> const void* {
      return gc.back().data_ptr<decltype(z)>();
    }));
    const int64_t n = gc.back().numel();
    for (int64_t lo = 0; lo < n; lo += kReduceChunk) tasks.push_back({k, lo, std::min(n, lo + kReduceChunk)});
    total += n;
  }
  std::vector<double> part(tasks.size());
  const int64_t nt = int64_t(tasks.size());
  parallel_for(0, nt, total < 4 * kReduceChunk ? nt : 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Task& tk = tasks[size_t(t)];
      part[size_t(t)] = visit_float_dtype(gc[tk.g].dtype(), [&](auto z) -> double {
        using T = decltype(z);
        const T* x = static_cast<const T*>(base[tk.g]) + tk.lo;
        const int64_t n = tk.hi - tk.lo;
        if (!inf) return kernels::abs_pow_sum(x, n, p);
        const T hi = kernels::max(x, n), lo = kernels::min(x, n);  // a NaN: both give it
        return hi != hi ? std::abs(double(hi)) : std::max(std::abs(double(hi)), std::abs(double(lo)));
      });
    }
  });
  std::vector<double> norms(grads.size(), 0.0);
  for (size_t t = 0; t < tasks.size(); ++t) {
    double& acc = norms[tasks[t].g];
    if (!inf) acc += part[t];
    else if (part[t] > acc || std::isnan(part[t])) acc = part[t];
  }
  if (!inf)
    for (double& v : norms) v = p == 2 ? std::sqrt(v) : p == 1 ? v : std::pow(v, 1.0 / p);
  return norms;
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
  const std::vector<double> norms = tensor_norms(grads, norm_type);
  double total = 0;
  if (std::isinf(norm_type)) {
    for (double n : norms)
      if (n > total || std::isnan(n)) total = n;
  } else {
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
