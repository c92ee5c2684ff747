// The op layer of GEMM: argument checks, the K == 0 / alpha == 0 shortcut,
// tiling C over threads and the per-thread packing workspaces. The packed,
// register-blocked kernels live in tensor/kernels/gemm-inl.h (one copy per
// Highway target, dispatched at run time); sgemm_ref/dgemm_ref below are the
// plain triple loops the tests compare them against.
//
// Threads: C is cut into rectangles (never K), one per thread, each computed
// by GemmTile with its own packed copies of the A and B blocks it needs, or,
// for large products cut by rows, with one packed B shared by all (each
// thread packs part of every block: kernels::SharedB). Each
// element of C is accumulated in the same order whatever rectangle holds it,
// so 1 and 2 threads give identical bits. Products below kSerialFlops run on
// the calling thread. Workspaces are thread_local and only grow: after the
// first call of a given size no GEMM allocates.
#include "tensor/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <utility>

#include "tensor/error.h"
#include "tensor/kernels/gemm.h"
#include "tensor/parallel.h"

namespace tg {
namespace {

using kernels::GemmArgs;
using kernels::GemmConfig;

// Below this many multiply-adds (M*N*K) one thread is faster than two
// (measured with bench/gemm: a parallel_for costs a few microseconds).
constexpr int64_t kSerialFlops = int64_t(1) << 20;

// A 64-byte aligned buffer per thread that only grows.
struct Workspace {
  void* p = nullptr;
  size_t bytes = 0;
  ~Workspace() { std::free(p); }
  void* get(size_t need) {
    if (need > bytes) {
      std::free(p);
      bytes = (need + 4095) / 4096 * 4096;
      p = std::aligned_alloc(64, bytes);
      if (!p) throw std::bad_alloc();
    }
    return p;
  }
};

template <class T>
T* thread_workspace(size_t elems) {
  thread_local Workspace ws;
  return static_cast<T*>(ws.get(elems * sizeof(T)));
}

// op(B) packed once for all the threads of a product (kernels::SharedB):
// from this many multiply-adds, when a cut by rows gives every thread enough
// rows to pack B (see gemm_impl), and up to kSharedBMaxBytes of packed B.
// The buffer is the calling thread's and only grows.
constexpr int64_t kSharedBFlops = int64_t(1) << 27;
constexpr size_t kSharedBMaxBytes = size_t(64) << 20;

}  // namespace

namespace detail {
std::atomic<int64_t> shared_b_products{0};
}  // namespace detail

namespace {

// The slots of blocks_k x blocks_n blocks of slot_elems elements, and their
// parts' states (all free), in the calling thread's buffer.
template <class T>
kernels::SharedB<T> shared_b(size_t blocks_k, size_t blocks_n, size_t slot_elems, size_t parts) {
  thread_local Workspace ws;
  const size_t slots = blocks_k * blocks_n;
  const size_t b_bytes = (slots * slot_elems * sizeof(T) + 63) / 64 * 64;
  auto* base = static_cast<unsigned char*>(ws.get(b_bytes + slots * parts * sizeof(std::atomic<int>)));
  auto* state = reinterpret_cast<std::atomic<int>*>(base + b_bytes);
  for (size_t k = 0; k < slots * parts; ++k) new (state + k) std::atomic<int>(0);
  return {reinterpret_cast<T*>(base), state, slot_elems, blocks_n, parts};
}

template <class T>
GemmConfig config();
template <>
GemmConfig config<float>() {
  return kernels::gemm_config_f32();
}
template <>
GemmConfig config<double>() {
  return kernels::gemm_config_f64();
}
inline void tile(const GemmArgs<float>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                 float* ws, kernels::SharedB<float>* shared = nullptr, size_t first_part = 0) {
  kernels::gemm_tile_f32(g, m0, m1, n0, n1, ws, shared, first_part);
}
inline void tile(const GemmArgs<double>& g, size_t m0, size_t m1, size_t n0, size_t n1,
                 double* ws, kernels::SharedB<double>* shared = nullptr, size_t first_part = 0) {
  kernels::gemm_tile_f64(g, m0, m1, n0, n1, ws, shared, first_part);
}

// C = beta * C (+ bias) (ReLU): the whole product when K == 0 or alpha == 0.
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc, GemmEpilogue ep) {
  const T* bias = static_cast<const T*>(ep.bias);
  for (int64_t m = 0; m < M; ++m) {
    T* c = C + m * ldc;
    for (int64_t n = 0; n < N; ++n) {
      T v = beta == T(0) ? T(0) : beta * c[n];
      if (bias) v += bias[n];
      if (ep.relu && !(v > T(0))) v = T(0);  // as relu: NaN and -0 give +0
      c[n] = v;
    }
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T>
void gemm_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
               GemmEpilogue ep) {
  TG_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  TG_CHECK(ldc >= N, "gemm: ldc=", ldc, " < N=", N);
  TG_CHECK(lda >= (ta ? M : K), "gemm: lda=", lda, " too small for ",
           ta ? "trans_a, M=" : "K=", ta ? M : K);
  TG_CHECK(ldb >= (tb ? K : N), "gemm: ldb=", ldb, " too small for ",
           tb ? "trans_b, K=" : "N=", tb ? K : N);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc, ep);
    return;
  }
  const GemmConfig cfg = config<T>();
  // A product narrower than one register tile (a 10-class head) is computed
  // as Cᵀ[N, M] = op(B)ᵀ · op(A)ᵀ, stored transposed, so that M fills the
  // vectors. Every element still sees the same FMAs in the same order.
  GemmArgs<T> g{ta,    tb,        size_t(M),    size_t(N), size_t(K), alpha, A,
                size_t(lda), B,   size_t(ldb), beta,      C,         size_t(ldc),
                ep.bias, ep.relu, false};
  // Not when B is already transposed and C at least one vector wide (LeNet's
  // conv2 dwᵀ = col · dyᵀ, 150x16x100: 137 vs 111 GFLOP/s unswapped); a
  // narrower one still gains (conv1's 25x6x784: 64 vs 51; the head x·Wᵀ
  // 64x10x128: 105 vs 85).
  if (N < int64_t(cfg.nr) && M > N && (!tb || N < int64_t(cfg.lanes))) {
    g = GemmArgs<T>{!tb,   !ta,       size_t(N),    size_t(M), size_t(K), alpha, B,
                    size_t(ldb), A,   size_t(lda), beta,      C,         size_t(ldc),
                    ep.bias, ep.relu, true};
    std::swap(M, N);
  }
  const int64_t nt = get_num_threads();
  if (nt == 1 || M * N * K < kSerialFlops || detail::in_parallel_region()) {
    serial_region([&] { tile(g, 0, M, 0, N, thread_workspace<T>(cfg.workspace_elems)); });
    return;
  }
  // Cut C into a x b rectangles (a * b == nt) of whole micro-tiles, choosing
  // the cut whose largest rectangle (padded, plus packing) is cheapest, unless
  // one of the two rules below picks the cut by rows.
  const int64_t um = ceil_div(M, cfg.mr), un = ceil_div(N, cfg.nr);
  int64_t best_a = 1, best_cost = -1;
  for (int64_t a = 1; a <= nt; ++a) {
    if (nt % a) continue;
    const int64_t b = nt / a;
    if (a > um || b > un) continue;
    // multiply-adds of the largest rectangle plus its packing (every row of
    // A and column of B it touches is packed once per KC block, ~8 FMA slots
    // per element at 16 lanes)
    const int64_t rows = ceil_div(um, a) * cfg.mr, cols = ceil_div(un, b) * cfg.nr;
    const int64_t cost = rows * cols + 8 * (rows + cols);
    if (best_cost < 0 || cost < best_cost) best_a = a, best_cost = cost;
  }
  // Aᵀ·B is how a layer's weight gradient dYᵀ·X is formed: cut it by rows
  // when it has enough of them, so that each thread writes a contiguous block
  // of the gradient: the block the same thread then updates in the optimizer
  // (optim::detail::for_each_chunk gives thread p the p-th n-th of every
  // parameter), instead of half of every row crossing between cores.
  if (g.trans_a && !g.trans_c && um >= nt && best_cost >= 0) best_a = nt;
  // A large product whose every row tile would pack B is cut by rows, with B
  // packed once for all threads (kernels::SharedB): otherwise each thread
  // packs all of B (rows cut) or all of A (columns cut), where OpenBLAS packs
  // each once. 2048³ at 2 threads was cut by columns; by rows with B shared
  // +3.5-11% (eleven alternating pairs, docs/gemm.md).
  kernels::SharedB<T> shared{};
  kernels::SharedB<T>* sh = nullptr;
  const size_t kc = kernels::even_kc(size_t(K), cfg.kc);
  if (!g.trans_c && um >= nt && M * N * K >= kSharedBFlops && N > int64_t(cfg.lanes) &&
      (g.trans_b || !kernels::read_b_in_place(size_t(M / nt), size_t(g.ldb) * sizeof(T), kc, cfg.direct_b_rows))) {
    const size_t blocks_k = (size_t(K) + kc - 1) / kc, blocks_n = (size_t(N) + cfg.nc - 1) / cfg.nc;
    if (blocks_k * blocks_n * kc * cfg.nc * sizeof(T) <= kSharedBMaxBytes) {
      shared = shared_b<T>(blocks_k, blocks_n, kc * cfg.nc, size_t(nt));
      sh = &shared;
      best_a = nt, best_cost = 0;
      detail::shared_b_products.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (best_cost < 0) {  // fewer micro-tiles than threads: one rectangle
    serial_region([&] { tile(g, 0, M, 0, N, thread_workspace<T>(cfg.workspace_elems)); });
    return;
  }
  const int64_t a = best_a, b = nt / a;
  // Columns in whole NR panels (full vectors, no C cache line written by two
  // threads). Rows as evenly as they go: GemmTile spreads any row count over
  // its micro-panels, and whole micro-panels here would give one thread 140
  // rows of a 256-row weight gradient and the other 116 (and Adam's split
  // of that gradient would no longer match). A transposed C keeps whole
  // micro-panels: its rows are C's columns.
  const int64_t rows = ceil_div(um, a) * cfg.mr, cols = ceil_div(un, b) * cfg.nr;
  parallel_for(0, a * b, 1, [&](int64_t t0, int64_t t1) {
    T* ws = thread_workspace<T>(cfg.workspace_elems);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / b, n0 = (t % b) * cols, n1 = std::min(N, n0 + cols);
      const int64_t m0 = g.trans_c ? i * rows : M * i / a;
      const int64_t m1 = g.trans_c ? std::min(M, m0 + rows) : M * (i + 1) / a;
      if (m0 < m1 && n0 < n1) tile(g, m0, m1, n0, n1, ws, sh, size_t(t));
    }
  });
}

template <class T>
void gemm_batched_impl(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K,
                       T alpha, const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb,
                       int64_t sb, T beta, T* C, int64_t ldc, int64_t sc) {
  TG_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  TG_CHECK(batch <= 1 || sc != 0 || M == 0 || N == 0,
           "gemm_batched: stride_c == 0 would write every product to the same C");
  // Small products: one thread per group of whole products. Large ones: each
  // product threads itself. The bits are the same either way.
  const int64_t per = std::max<int64_t>(1, M * N * K);
  const int64_t grain = std::max<int64_t>(1, kSerialFlops / per);
  parallel_for(0, batch, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      gemm_impl<T>(ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc,
                   ldc, {});
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
      if (ep.relu && !(v > 0)) v = 0;  // as relu: NaN and -0 give +0
      C[m * ldc + n] = T(v);
    }
}

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           GemmEpilogue ep) {
  gemm_impl<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
           int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc,
           GemmEpilogue ep) {
  gemm_impl<double>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}
void sgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb,
                   int64_t sb, float beta, float* C, int64_t ldc, int64_t sc) {
  gemm_batched_impl<float>(ta, tb, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                           sc);
}
void dgemm_batched(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb,
                   int64_t sb, double beta, double* C, int64_t ldc, int64_t sc) {
  gemm_batched_impl<double>(ta, tb, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C,
                            ldc, sc);
}
const char* gemm_target_name() { return kernels::gemm_target_name(); }
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
