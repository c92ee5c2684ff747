// Plain structs shared by the GEMM kernels (tensor/kernels/gemm-inl.h) and the
// op layer that tiles and threads them (tensor/gemm.cc).
#pragma once
#include <stddef.h>

#include <atomic>

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
  size_t direct_b_rows;    // tiles of at most this many rows read a row-major B in place
};

// K in equal blocks of at most KC (784 = 4 x 196, not 3 x 256 + 16): the
// split depends on K only, so every tiling sums in the same order.
inline size_t even_kc(size_t K, size_t KC) { return (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC); }

// Whether a tile of `rows` rows reads a row-major B in place instead of
// packing it (`direct_b_rows`: GemmConfig's). Up to direct_b_rows rows always
// (packing B was 25% of a 64x784x256 product); up to twice that when B's rows
// are at most 4 KiB apart (1 thread: 512³ +2.7%, 500x1024x1024 +1.4%; 1024³ at
// 2 threads, 512 rows each, +6%). Rows 8 KiB or more apart crowd the in-place
// panels into a few L2 sets, and packing wins there (500x2048x2048 -1.6%,
// 300x4096x1024 -5.7% in place).
inline bool read_b_in_place(size_t rows, size_t ldb_bytes, size_t direct_b_rows) {
  return rows <= direct_b_rows || (rows <= 2 * direct_b_rows && ldb_bytes <= 4096);
}

// op(B) packed once for all the threads of one product, instead of once per
// thread (tensor/gemm.cc offers it for large products, which it then cuts by
// rows, so every tile spans all columns and packs B). Each KC x NC block of
// op(B) has its own slot of `buf`: slot (pc / kc_even) * blocks_n + jc / NC,
// slot_elems (kc_even * NC) elements each, laid out as PackB lays out one block. A block is cut into `parts` runs of
// whole NR panels; a tile that needs the block packs every part nobody has
// claimed yet, starting at its own, then waits for the rest. A claimed part
// is being packed by a running thread, so the wait always ends, even when one
// thread ends up running every tile. Packing is a copy: the bits of C do not
// depend on who packed what.
template <class T>
struct SharedB {
  T* buf;
  std::atomic<int>* state;  // per (slot, part): 0 free, 1 being packed, 2 packed
  size_t slot_elems, blocks_n, parts;
};

}  // namespace kernels
}  // namespace tg
