// gradcheck: analytic vs numeric Jacobians in float64, built on public ops only.
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/autograd.h"
#include "autograd/ops.h"

namespace tg::autograd {

namespace {
// Address of element k (row-major order) of a possibly non-contiguous tensor.
double* element(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    const int64_t n = t.shape()[d];
    off += (k % n) * t.strides()[d];
    k /= n;
  }
  return t.raw_ptr<double>() + off;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts) {
  GradcheckResult res;
  for (size_t i = 0; i < inputs.size(); ++i)
    TG_CHECK(!inputs[i].defined() || !inputs[i].requires_grad() || inputs[i].dtype() == kFloat64,
             "gradcheck: input ", i, " has dtype ", inputs[i].dtype(), "; gradcheck needs float64 inputs");
  std::vector<Tensor> diff;  // inputs that require grad
  std::vector<size_t> which;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      diff.push_back(inputs[i]);
      which.push_back(i);
    }
  TG_CHECK(!diff.empty(), "gradcheck: no input requires grad");
  // Perturbing one element of an expanded (stride-0) input moves all its
  // aliases: the numerical gradient would be wrong, not the backward.
  for (size_t j = 0; j < diff.size(); ++j)
    for (int d = 0; d < diff[j].dim(); ++d)
      TG_CHECK(diff[j].strides()[d] != 0 || diff[j].shape()[d] <= 1, "gradcheck: input ", which[j],
               " has stride 0 in dim ", d, " (shape ", diff[j].shape(), "); pass a .contiguous() copy");

  Tensor y0;
  {
    NoGradGuard g;
    y0 = fn(inputs).contiguous();
  }
  TG_CHECK(y0.dtype() == kFloat64, "gradcheck: the function returned dtype ", y0.dtype(), "; expected float64");
  const int64_t m = y0.numel();

  // Numeric Jacobian: J_num[i][k][j] = (f(x + eps e_k) - f(x - eps e_k))_j / 2 eps.
  std::vector<std::vector<std::vector<double>>> jn(diff.size()), ja(diff.size());
  for (size_t i = 0; i < diff.size(); ++i) {
    const int64_t n = diff[i].numel();
    jn[i].assign(size_t(n), std::vector<double>(size_t(m)));
    ja[i].assign(size_t(n), std::vector<double>(size_t(m), 0.0));
    for (int64_t k = 0; k < n; ++k) {
      double* p = element(diff[i], k);
      const double orig = *p;
      std::vector<double> plus, minus;
      {
        NoGradGuard g;
        *p = orig + opts.eps;
        plus = fn(inputs).to_vector<double>();
        *p = orig - opts.eps;
        minus = fn(inputs).to_vector<double>();
        *p = orig;
      }
      for (int64_t j = 0; j < m; ++j) jn[i][size_t(k)][size_t(j)] = (plus[size_t(j)] - minus[size_t(j)]) / (2 * opts.eps);
    }
  }
  // Analytic Jacobian: one backward per output element with a one-hot dy.
  for (int64_t j = 0; j < m; ++j) {
    Tensor y = fn(inputs);
    // No op recorded a backward: the analytic Jacobian is 0 (sign(x), or a
    // first derivative that is constant), and the numeric one decides, as in
    // PyTorch; an output cut off from inputs it depends on still mismatches.
    if (!y.requires_grad()) continue;
    Tensor dy = zeros(y.shape(), {.dtype = kFloat64});
    dy.raw_ptr<double>()[j] = 1.0;
    std::vector<Tensor> g = grad({y}, diff, {.grad_outputs = {dy}, .allow_unused = true});
    for (size_t i = 0; i < diff.size(); ++i) {
      if (!g[i].defined()) continue;
      const std::vector<double> gv = g[i].to_vector<double>();
      for (size_t k = 0; k < gv.size(); ++k) ja[i][k][size_t(j)] = gv[k];
    }
  }
  std::ostringstream os;
  for (size_t i = 0; i < diff.size(); ++i) {
    double max_abs = 0, max_rel = 0;
    bool ok = true;
    for (size_t k = 0; k < jn[i].size(); ++k)
      for (int64_t j = 0; j < m; ++j) {
        const double a = ja[i][k][size_t(j)], n = jn[i][k][size_t(j)];
        const double err = std::abs(a - n);
        max_abs = std::max(max_abs, err);
        if (std::abs(n) > 0) max_rel = std::max(max_rel, err / std::abs(n));
        if (!(err <= opts.atol + opts.rtol * std::abs(n))) ok = false;
      }
    res.max_abs_error.push_back(max_abs);
    res.max_rel_error.push_back(max_rel);
    res.ok = res.ok && ok;
    os << "input " << which[i] << " " << diff[i].shape() << ": max abs error " << max_abs << ", max rel error " << max_rel
       << (ok ? "" : "  <-- MISMATCH") << "\n";
  }
  res.report = os.str();
  return res;
}

}  // namespace tg::autograd
