// Plain structs shared by the GEMM kernels (tensor/kernels/gemm-inl.h) and the
// op layer that tiles and threads them (tensor/gemm.cc).
#pragma once
#include <stddef.h>

#include <algorithm>
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

// K in equal blocks (2100 = 5 x 420, not 4 x 512 + 52): of at
// most KC when K > 2 KC, of at most KC / 2 otherwise (784 = 4 x 196). Fewer,
// longer blocks halve the passes over C: 2048³ at 1 thread +1.5% for 4
// blocks of 512 instead of 8 of 256 (2 threads +1%, 1536³ +1.5%); at K =
// 1024 the shorter blocks stay, since 1024³ at 2 threads reads B in place
// with them (see read_b_in_place; with blocks of 512 it packs, -3%). The
// split depends on K only, so every tiling sums in the same order.
inline size_t even_kc(size_t K, size_t KC) {
  const size_t kc_max = K <= 2 * KC ? KC / 2 : KC;
  const size_t blocks = (K + kc_max - 1) / kc_max;
  return blocks ? (K + blocks - 1) / blocks : 0;
}

// Whether a tile of `rows` rows reads a row-major B in place instead of
// packing it (`direct_b_rows`: GemmConfig's), in blocks of kc rows of B.
// - Up to direct_b_rows rows, or twice that when B's rows are at most 4 KiB
//   apart: packing B was 25% of a 64x784x256 product; at 1 thread 512³ +2.7%
//   in place, 500x1024x1024 +1.4%; 1024³ at 2 threads (512 rows each) +6%.
// - Not when B's rows are a multiple of a large power of two apart: the
//   lines of an in-place kc x NR panel then fall into few L2 sets (1024 sets
//   of 64 bytes: rows 64 KiB apart share a set). With more than 16 rows of
//   the panel per set, packing wins: 256x2048x2048 (rows 8 KiB apart, 32 per
//   set at kc = 256) +5% packed, and at kc = 512 with rows 4 KiB apart
//   (32 per set) +15-20%; 512³ (2 KiB, 8 per set) and 1024³ at 2 threads
//   (4 KiB, 16 per set, kc = 256) read in place.
inline bool read_b_in_place(size_t rows, size_t ldb_bytes, size_t kc, size_t direct_b_rows) {
  if (ldb_bytes == 0) return rows <= direct_b_rows;
  const size_t pow2 = std::min<size_t>(ldb_bytes & (~ldb_bytes + 1), size_t{1} << 16);
  const size_t rows_per_set = kc * pow2 >> 16;
  return rows_per_set <= 16 &&
         (rows <= direct_b_rows || (rows <= 2 * direct_b_rows && ldb_bytes <= 4096));
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
