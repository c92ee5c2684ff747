// matmul (1-D, 2-D, batched with broadcast batch dims) and linear, on tg::sgemm/dgemm.
// A transposed view is passed to GEMM as a transpose flag, never copied.
#include "tensor/gemm.h"
#include "tensor/raw.h"

namespace tg::raw {
namespace {

// How a 2-D view can be fed to GEMM: trans flag and leading dimension, or a copy.
struct GemmOperand {
  Tensor t;
  bool trans = false;
  int64_t ld = 0;
};
GemmOperand as_gemm_operand(const Tensor& x) {
  const int64_t r = x.shape()[0], c = x.shape()[1];
  const int64_t s0 = x.strides()[0], s1 = x.strides()[1];
  if ((s1 == 1 || c == 1) && s0 >= std::max<int64_t>(c, 1)) return {x, false, s0};
  if ((s0 == 1 || r == 1) && s1 >= std::max<int64_t>(r, 1)) return {x, true, s1};
  Tensor cc = contiguous(x);
  return {cc, false, std::max<int64_t>(c, 1)};
}

void gemm2d(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias, bool relu) {
  const GemmOperand A = as_gemm_operand(a), B = as_gemm_operand(b);
  const int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  if (out.dtype() == kFloat32) {
    sgemm(A.trans, B.trans, M, N, K, 1.0f, A.t.raw_ptr<float>(), A.ld, B.t.raw_ptr<float>(), B.ld, 0.0f,
          out.raw_ptr<float>(), std::max<int64_t>(N, 1), {bias.defined() ? bias.raw_ptr<float>() : nullptr, relu});
  } else {
    dgemm(A.trans, B.trans, M, N, K, 1.0, A.t.raw_ptr<double>(), A.ld, B.t.raw_ptr<double>(), B.ld, 0.0,
          out.raw_ptr<double>(), std::max<int64_t>(N, 1), {bias.defined() ? bias.raw_ptr<double>() : nullptr, relu});
  }
}

}  // namespace

// The product of all but the last dimension: the rows of x viewed as a matrix.
static int64_t leading_rows(const Tensor& x) {
  int64_t r = 1;
  for (int d = 0; d + 1 < x.dim(); ++d) r *= x.shape()[d];
  return r;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.defined() && b.defined(), "matmul: undefined tensor argument");
  TG_CHECK(a.dtype() == b.dtype(), "matmul: dtypes ", a.dtype(), " and ", b.dtype(), " differ");
  TG_CHECK(a.is_floating_point(), "matmul: expected floating-point tensors, got ", a.dtype());
  TG_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got shapes ", a.shape(),
           " and ", b.shape());
  if (a.dim() == 1 && b.dim() == 1) {
    TG_CHECK(a.shape()[0] == b.shape()[0], "matmul: vectors of sizes ", a.shape()[0], " and ", b.shape()[0], " differ");
    return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), Shape{});
  }
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  const int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  TG_CHECK(K == K2, "matmul: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", K, " vs ", K2, ")");
  if (a.dim() == 2 && b.dim() == 2) {
    Tensor out = empty({M, N}, {.dtype = a.dtype()});
    gemm2d(a, b, out, Tensor(), false);
    return out;
  }
  if (b.dim() == 2) {  // fold a's batch dims into M
    Shape os = a.shape();
    os[os.size() - 1] = N;
    // the rows counted, not inferred: with K = 0, [-1, 0] has no answer ([2,3,0] x [0,4] threw)
    return reshape(matmul(reshape(a, {leading_rows(a), K}), b), os);
  }
  // Batched: broadcast the batch dims, then one GEMM per batch entry.
  Shape ab(a.shape().data(), a.dim() - 2), bb(b.shape().data(), b.dim() - 2);
  TG_CHECK(broadcastable(ab, bb), "matmul: the batch dims ", ab, " of ", a.shape(), " and ", bb, " of ", b.shape(),
           " cannot broadcast");
  Shape batch = broadcast_shapes(ab, bb, "matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.push_back(M); sa.push_back(K);
  sb.push_back(K); sb.push_back(N);
  so.push_back(M); so.push_back(N);
  const int64_t B = batch.numel();
  const Tensor A = reshape(contiguous(expand(a, sa)), {B, M, K});
  const Tensor Bm = reshape(contiguous(expand(b, sb)), {B, K, N});
  Tensor out = empty({B, M, N}, {.dtype = a.dtype()});
  if (a.dtype() == kFloat32)
    sgemm_batched(false, false, B, M, N, K, 1.0f, A.raw_ptr<float>(), std::max<int64_t>(K, 1), M * K,
                  Bm.raw_ptr<float>(), std::max<int64_t>(N, 1), K * N, 0.0f, out.raw_ptr<float>(),
                  std::max<int64_t>(N, 1), M * N);
  else
    dgemm_batched(false, false, B, M, N, K, 1.0, A.raw_ptr<double>(), std::max<int64_t>(K, 1), M * K,
                  Bm.raw_ptr<double>(), std::max<int64_t>(N, 1), K * N, 0.0, out.raw_ptr<double>(),
                  std::max<int64_t>(N, 1), M * N);
  return reshape(out, so);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, bool relu) {
  TG_CHECK(x.defined() && w.defined(), "linear: undefined tensor argument");
  TG_CHECK(w.dim() == 2, "linear: weight must be 2-D [out, in], got shape ", w.shape());
  TG_CHECK(x.dim() >= 1, "linear: input must have at least 1 dim");
  const int64_t In = w.shape()[1], Out = w.shape()[0];
  TG_CHECK(x.shape()[x.dim() - 1] == In, "linear: input of shape ", x.shape(), " has ", x.shape()[x.dim() - 1],
           " features, weight ", w.shape(), " expects ", In);
  TG_CHECK(x.dtype() == w.dtype(), "linear: input dtype ", x.dtype(), " differs from weight dtype ", w.dtype());
  if (b.defined()) {
    TG_CHECK(b.dim() == 1 && b.shape()[0] == Out, "linear: bias of shape ", b.shape(), " does not match ", Out,
             " output features");
    TG_CHECK(b.dtype() == w.dtype(), "linear: bias dtype ", b.dtype(), " differs from weight dtype ", w.dtype());
  }
  const Tensor x2 = reshape(x, {leading_rows(x), In});  // counted, as in matmul (In may be 0)
  Tensor out = empty({x2.shape()[0], Out}, {.dtype = x.dtype()});
  gemm2d(x2, transpose(w, 0, 1), out, b.defined() ? contiguous(b) : Tensor(), relu);
  Shape os = x.shape();
  os[os.size() - 1] = Out;
  return reshape(out, os);
}

}  // namespace tg::raw
