// General matrix multiply on raw row-major pointers: the one routine that
// Linear, matmul, conv2d and their backwards spend their time in.
//
//   C[M,N] = alpha * op(A) · op(B) + beta * C   (+ bias[n]) (then ReLU)
//   op(A) is A[M,K] (lda >= K) or, with trans_a, Aᵀ where A is stored [K,M]
//   op(B) is B[K,N] (ldb >= N) or, with trans_b, Bᵀ where B is stored [N,K]
//
// beta == 0 means C is write-only (it may hold garbage or NaN on entry). The
// epilogue (bias per column, then optional ReLU) is applied after the
// alpha/beta combination. K is never split across threads, so every element of
// C is computed in one fixed order: results do not depend on the thread count.
// These functions thread internally through tg::parallel_for (above a size
// threshold) and never allocate per call after warm-up.
#pragma once
#include <atomic>
#include <cstdint>

namespace tg {

struct GemmEpilogue {
  const void* bias = nullptr;  // float* for sgemm, double* for dgemm; length N
  bool relu = false;
};

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, GemmEpilogue ep = {});
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
           const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
           int64_t ldc, GemmEpilogue ep = {});

// Batched: `batch` independent products; operand i starts at A + i*stride_a etc.
// A stride of 0 broadcasts that operand over the batch.
void sgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B,
                   int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                   int64_t stride_c);
void dgemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                   double alpha, const double* A, int64_t lda, int64_t stride_a, const double* B,
                   int64_t ldb, int64_t stride_b, double beta, double* C, int64_t ldc,
                   int64_t stride_c);

// Name of the Highway target the GEMM kernels dispatch to on this CPU right now
// ("AVX3", "AVX2", ...; tests may force others).
const char* gemm_target_name();

namespace detail {
// Products that packed B once for all threads (SharedB, tensor/gemm.cc): lets
// the tests see that their shapes take that path.
extern std::atomic<int64_t> shared_b_products;
}  // namespace detail

// The plain triple loop the tests compare against (double accumulation).
void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
               int64_t ldc, GemmEpilogue ep = {});
void dgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
               const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
               double* C, int64_t ldc, GemmEpilogue ep = {});

}  // namespace tg
