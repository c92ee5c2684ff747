// Gradient clipping, as torch.nn.utils (1.13):
//   clip_grad_norm_: total = ‖(‖g₁‖_p, ‖g₂‖_p, ...)‖_p (p = inf: max |g|);
//   coef = max_norm / (total + 1e-6); if coef < 1 (or NaN) every gradient is scaled by coef.
//   Returns the total norm (before clipping). Parameters without a gradient are skipped.
//   clip_grad_value_: every gradient element is clamped to [−clip_value, clip_value]; NaN stays NaN.
// Norms accumulate in double in a fixed order (deterministic for any thread count):
// each gradient in chunks of 16,384 elements summed in double SIMD lanes, the
// chunk sums added in order (within 1e-13 relative of an exact sum in the tests;
// sessions up to 15 summed one element after another, so the last bits differ).
// Namespace tg::nn::utils mirrors PyTorch's spelling; the code lives in optim/.
#pragma once
#include <limits>
#include <vector>

#include "tensor/tensor.h"

namespace tg::nn::utils {

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace tg::nn::utils
