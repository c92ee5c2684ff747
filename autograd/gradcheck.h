// gradcheck: compares the analytic Jacobian (one backward per output element)
// with central finite differences (two forwards per input element), in float64.
//
//   auto r = tg::autograd::gradcheck([](const std::vector<tg::Tensor>& x) { return x[0] * x[1]; },
//                                    {a, b});
//   CHECK(r.ok);   // r.report lists the largest absolute and relative error per input
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg::autograd {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // passes when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  std::vector<double> max_abs_error;  // per input
  std::vector<double> max_rel_error;  // per input
  std::string report;
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});

}  // namespace tg::autograd
