// Plain structs shared by the GEMM kernels (tensor/kernels/gemm-inl.h) and the
// op layer that tiles and threads them (tensor/gemm.cc).
#pragma once
#include <stddef.h>

namespace tg {
namespace kernels {

// One GEMM call: C[M,N] = alpha * op(A) · op(B) + beta * C (+ bias[n]) (ReLU).
template <class T>
struct GemmArgs {
  bool trans_a, trans_b;
  size_t M, N, K;
  T alpha;
  const T* A;
  size_t lda;
  const T* B;
  size_t ldb;
  T beta;
  T* C;
  size_t ldc;
  const void* bias;  // const T*, one per column of C (per row when trans_c), or nullptr
  bool relu;
  bool trans_c;      // compute Cᵀ: element (m, n) is stored at C[n * ldc + m]
};

// The blocking the dispatched target uses; the op layer sizes its tiles and
// workspaces from it.
struct GemmConfig {
  size_t mr, nr, kc, nc;
  size_t lanes;  // of one vector of T
  size_t workspace_elems;  // elements of T GemmTile needs, 64-byte aligned
};

}  // namespace kernels
}  // namespace tg
