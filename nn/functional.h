// tg::nn::functional (alias tg::F): the differentiable ops behind the layers
// and the losses, with PyTorch 1.13 semantics (torch.nn.functional).
//
// - conv2d, max_pool2d, avg_pool2d wrap the pointer-level kernels of
//   tensor/conv.h (NCHW, float32/float64). Their backward passes are
//   themselves recorded ops (conv2d's dx is a transposed convolution, dw a
//   correlation of x with dy, and each of those differentiates back into the
//   other two), so grad(..., {.create_graph = true}) works through them.
// - dropout draws its mask from a Philox tg::Generator: the mask depends on
//   the seed and the element index only, never on the thread count.
// - batch_norm (training), layer_norm and embedding are written with the
//   differentiable tensor ops (their gradients match PyTorch's closed forms to
//   rounding). batch_norm in eval mode is one fused pass y = x * scale[c] +
//   shift[c] (scale = w / sqrt(var + eps), shift = b - mean * scale, as
//   PyTorch's CPU kernel), one tape node whose backward is again recorded ops;
//   smooth_l1_loss is fused the same way (kernels in tensor/kernels/loss.h).
// - cross_entropy rows of 32 classes or more take SIMD kernels (exps summed in
//   double lanes, a fixed order); fewer classes keep the scalar loop's bits.
// - cross_entropy is fused: one log-softmax pass per row produces the loss and
//   the softmax P, which backward reuses: dlogits_i = g_i (S_i P_i - a_i),
//   where a_i is the row's target distribution (one-hot, label-smoothed,
//   class-weighted) and S_i = Σ_c a_ic; for plain targets and mean reduction
//   that is (P - onehot) / N.
// - Reductions follow PyTorch exactly: "mean" with ignore_index divides by the
//   number of non-ignored targets, with class weights by the sum of the
//   targets' weights (so a batch whose targets are all ignored gives NaN, as in
//   PyTorch). The class-index targets of cross_entropy/nll_loss have no
//   gradient; the float targets of mse/l1/smooth_l1/huber,
//   binary_cross_entropy and binary_cross_entropy_with_logits are
//   differentiable like any input (as in PyTorch).
#pragma once
#include <cstdint>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::nn {

// A 2-D size: `5` means 5x5, `{2, 3}` means height 2, width 3.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2() = default;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose (.kernel = 5)
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Size2& s);  // (5, 5)

enum class Reduction { None, Mean, Sum };

// ---- options shared by the functional ops and the layers ----
struct Conv2dFuncOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  int64_t groups = 1;
};
struct MaxPool2dOptions {
  Size2 kernel = 0;
  Size2 stride = 0;  // 0 = same as kernel (PyTorch's default)
  Size2 padding = 0;
  bool ceil_mode = false;
};
struct AvgPool2dOptions {
  Size2 kernel = 0;
  Size2 stride = 0;  // 0 = same as kernel
  Size2 padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};
struct CrossEntropyOptions {
  Tensor weight = Tensor();  // [C] class weights, or undefined
  int64_t ignore_index = -100;  // targets equal to this contribute nothing
  Reduction reduction = Reduction::Mean;
  double label_smoothing = 0.0;  // in [0, 1]
};
struct NllLossOptions {
  Tensor weight = Tensor();
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
struct BCEWithLogitsOptions {
  Tensor weight = Tensor();      // broadcast to the input's shape (never beyond it), or undefined
  Tensor pos_weight = Tensor();  // [C] (broadcast along the last dim; never beyond the input's shape), or undefined
  Reduction reduction = Reduction::Mean;
};
struct BCEOptions {
  Tensor weight = Tensor();  // broadcast to the input's shape (never beyond it), or undefined
  Reduction reduction = Reduction::Mean;
};

namespace functional {

using tg::gelu;
using tg::leaky_relu;
using tg::linear;
using tg::linear_relu;
using tg::log_softmax;
using tg::relu;
using tg::sigmoid;
using tg::softmax;
using tg::tanh;

// x: [N, C, H, W]  w: [OC, C/groups, KH, KW]  b: [OC] or undefined  ->  [N, OC, OH, OW]
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dFuncOptions& o = {});
// relu(conv2d(x, w, b, o)) in one pass and one tape node (the same values and gradients)
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dFuncOptions& o = {});
// x: [N, C, H, W] -> [N, C, OH, OW]
Tensor max_pool2d(const Tensor& x, const MaxPool2dOptions& o);
Tensor avg_pool2d(const Tensor& x, const AvgPool2dOptions& o);

// Training: zeroes each element with probability p and scales the rest by 1/(1-p).
// Not training (or p == 0): returns x itself.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

// x: [N, C] or [N, C, *]; running_mean/var: [C] or undefined (then batch stats are
// always used); weight/bias: [C] or undefined. In training with running stats,
// updates them in place: mean ← (1-m)·mean + m·batch_mean, var ← (1-m)·var +
// m·batch_var_unbiased. Normalizes with the biased batch variance.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// Normalizes over the trailing dims given by normalized_shape (biased variance).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// indices: int64, any shape, values in [0, num_embeddings)  weight: [num, dim]  ->  indices.shape + [dim]
Tensor embedding(const Tensor& indices, const Tensor& weight);

// ---- losses ----
// logits: [N, C] float  target: [N] int64 class ids
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o = {});
// log_probs: [N, C]  target: [N] int64
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& o = {});
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean, double beta = 1.0);
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean, double delta = 1.0);
// Stable: (1 - t)·x + (1 + (pw - 1)·t)·softplus(-x); target has the input's shape.
// d/dt = -x + (pw - 1)·softplus(-x) (times weight), as PyTorch's target gradient.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& o = {});
// input: probabilities in [0, 1]; log terms clamped at -100 like PyTorch.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BCEOptions& o = {});

}  // namespace functional
}  // namespace tg::nn

namespace tg {
namespace F = nn::functional;
}
