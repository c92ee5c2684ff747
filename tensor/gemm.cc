// Placeholder GEMM: a correct, cache-friendly (i-k-j order, auto-vectorized)
// implementation threaded over rows. The packed Highway GEMM replaces the
// bodies of sgemm/dgemm; the interface in gemm.h stays.
#include "tensor/gemm.h"

#include <algorithm>
#include <vector>

#include "tensor/parallel.h"

namespace tg {
namespace {

template <class T>
void gemm_simple(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                 int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                 GemmEpilogue ep) {
  const T* bias = static_cast<const T*>(ep.bias);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, N * K));
  parallel_for(0, M, grain, [&](int64_t m0, int64_t m1) {
    std::vector<T> acc(N);
    for (int64_t m = m0; m < m1; ++m) {
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t k = 0; k < K; ++k) {
        const T a = ta ? A[k * lda + m] : A[m * lda + k];
        if (!tb) {
          const T* b = B + k * ldb;
          for (int64_t n = 0; n < N; ++n) acc[n] += a * b[n];
        } else {
          for (int64_t n = 0; n < N; ++n) acc[n] += a * B[n * ldb + k];
        }
      }
      T* c = C + m * ldc;
      for (int64_t n = 0; n < N; ++n) {
        T v = alpha * acc[n] + (beta == T(0) ? T(0) : beta * c[n]);
        if (bias) v += bias[n];
        if (ep.relu && v < T(0)) v = T(0);
        c[n] = v;
      }
    }
  });
}

template <class T>
void gemm_ref_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                   GemmEpilogue ep) {
  const T* bias = static_cast<const T*>(ep.bias);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta ? A[k * lda + m] : A[m * lda + k];
        const double b = tb ? B[n * ldb + k] : B[k * ldb + n];
        s += a * b;
      }
      double v = double(alpha) * s + (beta == T(0) ? 0.0 : double(beta) * C[m * ldc + n]);
      if (bias) v += bias[n];
      if (ep.relu && v < 0) v = 0;
      C[m * ldc + n] = T(v);
    }
}

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           GemmEpilogue ep) {
  gemm_simple<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc,
           GemmEpilogue ep) {
  gemm_simple<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
void sgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb,
                   int64_t sb, float beta, float* C, int64_t ldc, int64_t sc) {
  for (int64_t i = 0; i < batch; ++i)
    sgemm(ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
}
void dgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb,
                   int64_t sb, double beta, double* C, int64_t ldc, int64_t sc) {
  for (int64_t i = 0; i < batch; ++i)
    dgemm(ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
}
void sgemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
               GemmEpilogue ep) {
  gemm_ref_impl<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
void dgemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
               int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc,
               GemmEpilogue ep) {
  gemm_ref_impl<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

}  // namespace tg
