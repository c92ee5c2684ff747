// GEMM kernels, per Highway target: packing and the register-blocked
// micro-kernel of the BLIS/OpenBLAS design, plus GemmTile, which computes one
// rectangle of C from them.
//
//   C[m0:m1, n0:n1] = alpha * op(A) · op(B) + beta * C   (+ bias[n]) (ReLU)
//
// Packed layouts (zero-padded so every micro-kernel call is full width in N):
//   Ap: one micro-panel of mr rows, k-major:   Ap[k * mr + r]   = op(A)[i + r, p + k]
//   Bp: NR-wide column panels, k-major:        Bp[k * NR + c]   = op(B)[p + k, j + c]  (0 past N)
// M is not padded: every row count 1..MR has its own kernel instantiation.
// The micro-kernel keeps an MR x NR tile of C in MR * NV vector registers
// (NR = NV lanes-wide vectors): for each k it loads NV vectors of Bp and
// broadcasts MR elements of Ap against them, FMAs only, no horizontal sums.
//
// Loop order inside GemmTile (BLIS with the roles of A and B swapped, since we
// vectorize along N of a row-major C):
//   ic (MC rows) -> pc (K in equal blocks <= KC) [-> pack A block [MC, KC] (L3)]
//     -> jc (NC columns) -> pack B block [KC, NC] (L2)
//     -> ir (MR rows) [-> pack A micro-panel [KC, MR] (L1)] -> jr (NR): micro-kernel
// A is packed a block at a time when several jc blocks reuse it, a
// micro-panel at a time when only one does, and not at all when the
// micro-kernel can read it in place (then ic covers all rows).
// K is only ever walked in ascending KC blocks, and each element of C is
// accumulated in the same order whatever rectangle it belongs to, so the
// result does not depend on how the caller tiles C over threads.
//
// Kernels take pointers and counts; they never allocate, throw or spawn
// threads (tiles sharing one packed B wait for each other's parts: SharedB).
// The caller provides the workspace (Config<T>().workspace_elems
// elements, 64-byte aligned). The scalar twin of all this is
// tg::sgemm_ref/dgemm_ref, which the tests compare on every target.

#if defined(TG_TENSOR_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_GEMM_INL_H_
#undef TG_TENSOR_KERNELS_GEMM_INL_H_
#else
#define TG_TENSOR_KERNELS_GEMM_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <thread>
#include <type_traits>
#include <utility>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "tensor/kernels/gemm_types.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Register blocking for this target. 32 vector registers on AVX-512: 14 rows
// x 2 vectors = 28 accumulators + 2 B vectors + 1 broadcast. 16 registers
// elsewhere: 6 x 2 = 12 accumulators. HWY_SCALAR has 1 lane: 4 x 4. A tile at
// most one vector wide (the last columns, or all of a narrow product) uses a
// one-vector kernel with kMR1 rows instead of padding to NV vectors.
template <class T>
struct Blocking {
  using D = hn::ScalableTag<T>;
  static constexpr size_t kLanes = hn::MaxLanes(D());
#if HWY_TARGET <= HWY_AVX3
  static constexpr size_t kMR = 14;
  static constexpr size_t kNV = 2;
  static constexpr size_t kMR1 = 24;
#elif HWY_TARGET == HWY_SCALAR
  static constexpr size_t kMR = 4;
  static constexpr size_t kNV = 4;
  static constexpr size_t kMR1 = 12;
#else
  static constexpr size_t kMR = 6;
  static constexpr size_t kNV = 2;
  static constexpr size_t kMR1 = 12;
#endif
  static constexpr size_t kNR = kNV * kLanes;
  // KC: the longest block of K (even_kc uses KC / 2 up to K = 2 KC). A
  // KC x MR panel of A stays in L1 (28 KB at KC = 512); the KC x NC block of
  // B (1 MB at KC = 512) streams from L2 and L3 with the hardware prefetcher
  // keeping up. The macros exist for tuning experiments only.
#ifndef TG_GEMM_KC_BYTES
#define TG_GEMM_KC_BYTES 2048
#endif
#ifndef TG_GEMM_NC_BYTES
#define TG_GEMM_NC_BYTES 2048
#endif
  static constexpr size_t kKC = TG_GEMM_KC_BYTES / sizeof(T);
  static constexpr size_t kNC = kNR * ((TG_GEMM_NC_BYTES / sizeof(T)) / kNR);
  // A row-major A is packed when its rows are within this many bytes of a
  // multiple of 4 KiB (they would share L1 sets); B is read in place by
  // tiles of at most kDirectBRows rows (twice that when its rows are at most
  // 4 KiB apart: read_b_in_place). Measured with bench/gemm.
  static constexpr size_t kAConflictBytes = 256;
  // Aᵀ is read in place one cache line per k; with rows a multiple of 4 KiB
  // apart all of them fall into one L1 set, and a panel of more than this
  // many rows is packed (1024³ Aᵀ·Bᵀ 186 -> 190 GFLOP/s; two sets, 2 KiB
  // apart, measured no better packed).
  static constexpr size_t kAConflictRows = 48;
  static constexpr size_t kDirectBRows = 256;
  // A packed A is packed a block of up to kMC rows at a time (KC x kMC: 2 MB,
  // L3) when several NC blocks of columns reuse it, instead of one
  // micro-panel per NC block. Rounded up, so that 2048 rows are one block.
  static constexpr size_t kMC = (2048 + kMR - 1) / kMR * kMR;
};

template <class T>
GemmConfig Config() {
  using Bk = Blocking<T>;
  GemmConfig c;
  c.mr = Bk::kMR;
  c.nr = Bk::kNR;
  c.kc = Bk::kKC;
  c.nc = Bk::kNC;
  c.lanes = Bk::kLanes;
  c.workspace_elems = Bk::kKC * Bk::kNC + Bk::kKC * std::max(Bk::kMR1, Bk::kMC) + 64 / sizeof(T);
  c.direct_b_rows = Bk::kDirectBRows;
  return c;
}

// ---------------------------------------------------------------------------
// Packing.

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: the transposing
// copy both packings need when the packed dimension is the strided one. On
// AVX2 and up, 8x8 float / 4x4 double blocks through 256-bit registers, the
// rows after the last whole block as one more block overlapping the one before
// (a 14-row panel of A: rows 0-7 and 6-13; 2048³ at 1 thread +2-3% in
// alternating runs against 8 + 4 + 2 rows in 128-bit blocks); elsewhere whole
// 128-bit blocks (4x4 floats, 2x2 doubles). The rest is scalar.
template <class T>
HWY_INLINE void TransposeCopy(const T* HWY_RESTRICT src, size_t lds, size_t rows, size_t cols,
                              T* HWY_RESTRICT dst, size_t ldd) {
  size_t r = 0;
#if HWY_TARGET <= HWY_AVX2
  if constexpr (sizeof(T) == 4) {  // 8x8 blocks through 256-bit registers
    const hn::FixedTag<float, 8> d8;
    const hn::Repartition<uint64_t, decltype(d8)> d64;
    const size_t cols_8 = cols / 8 * 8;
    // Rows past the last whole block of 8 (14 = 8 + 6) are done as one more
    // block of 8 ending at the last row: rows 6-7 are written twice, with the
    // same values (a 4x4 and a 2x4 pass cost more than the overlap).
    for (; rows >= 8 && r < rows; r += 8) {
      r = std::min(r, rows - 8);
      const T* s0 = src + r * lds;
      size_t c = 0;
      for (; c < cols_8; c += 8) {
        using V8 = hn::Vec<decltype(d8)>;
        V8 v[8];
        #pragma GCC unroll 8
        for (size_t i = 0; i < 8; ++i) v[i] = hn::LoadU(d8, s0 + i * lds + c);
        V8 t[8];
        #pragma GCC unroll 8
        for (size_t i = 0; i < 4; ++i) {
          t[2 * i] = hn::InterleaveLower(d8, v[2 * i], v[2 * i + 1]);
          t[2 * i + 1] = hn::InterleaveUpper(d8, v[2 * i], v[2 * i + 1]);
        }
        // t[0] = a0 b0 a1 b1 | a4 b4 a5 b5   t[1] = a2 b2 a3 b3 | a6 b6 a7 b7 ...
        V8 u[8];
        #pragma GCC unroll 8
        for (size_t h = 0; h < 2; ++h)      // rows a-d, e-h
#pragma GCC unroll 8
          for (size_t j = 0; j < 2; ++j) {  // t[0]/t[2] pair or t[1]/t[3]
            const auto x = hn::BitCast(d64, t[4 * h + j]), y = hn::BitCast(d64, t[4 * h + 2 + j]);
            u[4 * h + 2 * j] = hn::BitCast(d8, hn::InterleaveLower(d64, x, y));
            u[4 * h + 2 * j + 1] = hn::BitCast(d8, hn::InterleaveUpper(d64, x, y));
          }
        // u[q] (q < 4) = column q of rows a-d | column q + 4; u[4 + q]: rows e-h
        T* o = dst + c * ldd + r;
        #pragma GCC unroll 8
        for (size_t q = 0; q < 4; ++q) {
          hn::StoreU(hn::ConcatLowerLower(d8, u[4 + q], u[q]), d8, o + q * ldd);
          hn::StoreU(hn::ConcatUpperUpper(d8, u[4 + q], u[q]), d8, o + (q + 4) * ldd);
        }
      }
      for (; c < cols; ++c)
        for (size_t i = 0; i < 8; ++i) dst[c * ldd + r + i] = s0[i * lds + c];
    }
  }
  if constexpr (sizeof(T) == 8) {  // 4x4 doubles through 256-bit registers
    const hn::FixedTag<double, 4> d4x;
    const size_t cols_4 = cols / 4 * 4;
    // As for float: the rows after the last whole block as one overlapping block.
    for (; rows >= 4 && r < rows; r += 4) {
      r = std::min(r, rows - 4);
      const T* s0 = src + r * lds;
      size_t c = 0;
      for (; c < cols_4; c += 4) {
        const auto r0 = hn::LoadU(d4x, s0 + c), r1 = hn::LoadU(d4x, s0 + lds + c);
        const auto r2 = hn::LoadU(d4x, s0 + 2 * lds + c), r3 = hn::LoadU(d4x, s0 + 3 * lds + c);
        const auto t0 = hn::InterleaveLower(d4x, r0, r1), t1 = hn::InterleaveUpper(d4x, r0, r1);
        const auto t2 = hn::InterleaveLower(d4x, r2, r3), t3 = hn::InterleaveUpper(d4x, r2, r3);
        T* o = dst + c * ldd + r;
        hn::StoreU(hn::ConcatLowerLower(d4x, t2, t0), d4x, o);
        hn::StoreU(hn::ConcatLowerLower(d4x, t3, t1), d4x, o + ldd);
        hn::StoreU(hn::ConcatUpperUpper(d4x, t2, t0), d4x, o + 2 * ldd);
        hn::StoreU(hn::ConcatUpperUpper(d4x, t3, t1), d4x, o + 3 * ldd);
      }
      for (; c < cols; ++c)
        for (size_t i = 0; i < 4; ++i) dst[c * ldd + r + i] = s0[i * lds + c];
    }
  }
#endif
#if HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<T, 16 / sizeof(T)> d4;
  constexpr size_t B = 16 / sizeof(T);
  const size_t cols_b = cols / B * B;
  for (; r + B <= rows; r += B) {
    const T* s0 = src + r * lds;
    size_t c = 0;
    for (; c < cols_b; c += B) {
      if constexpr (B == 4) {
        const auto r0 = hn::LoadU(d4, s0 + c), r1 = hn::LoadU(d4, s0 + lds + c);
        const auto r2 = hn::LoadU(d4, s0 + 2 * lds + c), r3 = hn::LoadU(d4, s0 + 3 * lds + c);
        const auto t0 = hn::InterleaveLower(d4, r0, r1), t1 = hn::InterleaveLower(d4, r2, r3);
        const auto t2 = hn::InterleaveUpper(d4, r0, r1), t3 = hn::InterleaveUpper(d4, r2, r3);
        T* o = dst + c * ldd + r;
        hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, o);
        hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, o + ldd);
        hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, o + 2 * ldd);
        hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, o + 3 * ldd);
      } else {
        const auto r0 = hn::LoadU(d4, s0 + c), r1 = hn::LoadU(d4, s0 + lds + c);
        T* o = dst + c * ldd + r;
        hn::StoreU(hn::InterleaveLower(d4, r0, r1), d4, o);
        hn::StoreU(hn::InterleaveUpper(d4, r0, r1), d4, o + ldd);
      }
    }
    for (; c < cols; ++c)
      for (size_t i = 0; i < B; ++i) dst[c * ldd + r + i] = s0[i * lds + c];
  }
  if constexpr (B == 4) {  // two leftover rows (14 = 3 * 4 + 2): 2x4 blocks
    if (r + 2 <= rows) {
      const hn::FixedTag<T, 2> d2;
      const T* s0 = src + r * lds;
      size_t c = 0;
      for (; c < cols_b; c += B) {
        const auto r0 = hn::LoadU(d4, s0 + c), r1 = hn::LoadU(d4, s0 + lds + c);
        const auto lo = hn::InterleaveLower(d4, r0, r1), hi = hn::InterleaveUpper(d4, r0, r1);
        T* o = dst + c * ldd + r;
        hn::StoreU(hn::LowerHalf(d2, lo), d2, o);
        hn::StoreU(hn::UpperHalf(d2, lo), d2, o + ldd);
        hn::StoreU(hn::LowerHalf(d2, hi), d2, o + 2 * ldd);
        hn::StoreU(hn::UpperHalf(d2, hi), d2, o + 3 * ldd);
      }
      for (; c < cols; ++c) {
        dst[c * ldd + r] = s0[c];
        dst[c * ldd + r + 1] = s0[lds + c];
      }
      r += 2;
    }
  }
#endif
  if (r == rows) return;
  for (size_t c = 0; c < cols; ++c)
    for (size_t i = r; i < rows; ++i) dst[c * ldd + i] = src[i * lds + c];
}

// Ap[k * mr + r] = op(A)[i + r, p + k] for r < mr, k < kc.
// op(A) = A (stored [M, lda]) or, with trans, Aᵀ (A stored [K, lda]).
template <class T>
HWY_INLINE void PackA(bool trans, const T* HWY_RESTRICT A, size_t lda, size_t i, size_t mr,
                      size_t p, size_t kc, T* HWY_RESTRICT Ap) {
  if (trans) {
    // Rows of mr contiguous elements (a plain loop here becomes a memmove call
    // per k, which costs more than the copy).
    const hn::ScalableTag<T> d;
    constexpr size_t L = Blocking<T>::kLanes;
    const hn::CappedTag<T, 1> d1;
    for (size_t k = 0; k < kc; ++k) {
      const T* src = A + (p + k) * lda + i;
      T* dst = Ap + k * mr;
      size_t r = 0;
      for (; r + L <= mr; r += L) hn::StoreU(hn::LoadU(d, src + r), d, dst + r);
#if HWY_TARGET != HWY_SCALAR
      const hn::FixedTag<T, 16 / sizeof(T)> d4;
      for (; r + 16 / sizeof(T) <= mr; r += 16 / sizeof(T))
        hn::StoreU(hn::LoadU(d4, src + r), d4, dst + r);
#endif
      for (; r < mr; ++r) hn::StoreU(hn::LoadU(d1, src + r), d1, dst + r);
    }
  } else {
    TransposeCopy(A + i * lda + p, lda, mr, kc, Ap, mr);
  }
}

// Bp[jp * kc * NR + k * NR + c] = op(B)[p + k, j + jp * NR + c] for the nc
// columns starting at j, zero-padded up to a multiple of NR; a last panel of
// at most one vector (L lanes) is only L wide.
// Panels before first_panel are skipped (B read in place there).
template <class T>
HWY_INLINE void PackB(bool trans, const T* HWY_RESTRICT B, size_t ldb, size_t p, size_t kc,
                      size_t j, size_t nc, T* HWY_RESTRICT Bp, size_t first_panel = 0) {
  constexpr size_t NR0 = Blocking<T>::kNR, L = Blocking<T>::kLanes;
  const hn::ScalableTag<T> d;
  const size_t full = nc / NR0;  // whole NR-wide panels
  if (!trans) {
    // Row by row of B, so that each row's nc elements are read in one
    // sequential sweep (panel by panel, every row would be a new page).
    // Whole vectors: memcpy became a slow `rep movsq` here.
    for (size_t k = 0; k < kc; ++k) {
      const T* src = B + (p + k) * ldb + j;
      // Rows are far apart (a new page each): fetch the one kAhead rows on.
      constexpr size_t kAhead = 4;
      if (k + kAhead < kc)
        for (size_t c = first_panel * NR0; c < full * NR0; c += 64 / sizeof(T))
          hwy::Prefetch(src + kAhead * ldb + c);
      for (size_t jp = first_panel; jp < full; ++jp) {
        T* dst = Bp + jp * kc * NR0 + k * NR0;
#pragma GCC unroll 4
        for (size_t c = 0; c < NR0; c += L)
          hn::Store(hn::LoadU(d, src + jp * NR0 + c), d, dst + c);
      }
    }
  }
  for (size_t jp = trans ? first_panel : std::max(first_panel, full); jp * NR0 < nc; ++jp) {
    const size_t nr = std::min(NR0, nc - jp * NR0);
    const size_t NR = nr <= L ? L : NR0;  // panel width
    T* panel = Bp + jp * kc * NR0;
    const size_t j0 = j + jp * NR0;
    // A partial panel: zero the vectors holding columns nr..NR of every row
    // first (whole-vector stores; a scalar loop here became a memset call
    // per row), then write the nr real columns over them.
    // (a fixed trip count with a condition, or GCC turns it into rep stos)
    if (nr < NR)
      for (size_t k = 0; k < kc; ++k)
#pragma GCC unroll 4
        for (size_t v = 0; v < NR0 / L; ++v)
          if (v * L < NR && v >= nr / L) hn::Store(hn::Zero(d), d, panel + k * NR + v * L);
    if (!trans) {  // the last, partial panel
      for (size_t k = 0; k < kc; ++k) {
        const T* src = B + (p + k) * ldb + j0;
        T* dst = panel + k * NR;
        if (nr == L) {
          hn::Store(hn::LoadU(d, src), d, dst);
        } else {
          for (size_t c = 0; c < nr; ++c) dst[c] = src[c];
        }
      }
    } else {
      // B stored [N, ldb]: column c of op(B) is row j0 + c of B.
      TransposeCopy(B + j0 * ldb + p, ldb, nr, kc, panel, NR);
    }
  }
}

// ---------------------------------------------------------------------------
// Micro-kernel.

// How one KC pass stores its tile: c = alpha * acc + beta * c (beta == 0: c is
// not read), then + bias[n] and ReLU (only on the last KC pass).
// The epilogue's ReLU, Max(x, 0), is relu's rule x > 0 ? x : 0 on every
// target: a NaN or -0 gives the second operand, +0 (x86 max; Highway's scalar
// Max returns the other operand of a NaN). Tested with NaN outputs.
template <class T>
struct StoreArgs {
  T alpha;
  T beta;
  const T* bias;  // nullptr or already offset to the tile's first column (row if trans)
  bool relu;
  bool trans;     // C is stored transposed: element (r, c) lives at C[c * ldc + r]
};

// C[mr, nr] (mr == MR, nr <= NR = NV * L) from a [MR, kc] block of op(A) and
// a [kc, NR] block of op(B) whose rows are b_stride apart (NR when packed, ldb
// when B is read in place). Element (r, k) of the A block is
//   kRowA == false: Ap[k * a_stride + r]  (a packed panel, a_stride = MR, or Aᵀ
//                   read in place, a_stride = lda)
//   kRowA == true:  Ap[r * a_stride + k]  (row-major A read in place, a_stride = lda)
// Reading in place skips a packing pass that costs as much as the product
// when M or N is small; the arithmetic is the same either way.
template <size_t MR, size_t NV, bool kRowA, class T>
HWY_NOINLINE void MicroKernel(size_t kc, const T* HWY_RESTRICT Ap, size_t a_stride,
                              const T* HWY_RESTRICT Bp, size_t b_stride, T* HWY_RESTRICT C,
                              size_t ldc, size_t nr, const StoreArgs<T>& s) {
  using Bk = Blocking<T>;
  constexpr size_t L = Bk::kLanes;
  constexpr size_t NR = NV * L;
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;

  // The tile of C is read or written at the end: start fetching it now.
  if (!s.trans) {
#pragma GCC unroll 32
    for (size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (size_t v = 0; v < NV * L * sizeof(T); v += 64)
        hwy::Prefetch(C + r * ldc + v / sizeof(T));
  }

  V acc[MR][NV];
#pragma GCC unroll 32
  for (size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);

  for (size_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) b[v] = hn::LoadU(d, Bp + v * L);
#pragma GCC unroll 32
    for (size_t r = 0; r < MR; ++r) {
      const V a = hn::Set(d, kRowA ? Ap[r * a_stride] : Ap[r]);
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(a, b[v], acc[r][v]);
    }
    Ap += kRowA ? 1 : a_stride;
    Bp += b_stride;
  }

  const V valpha = hn::Set(d, s.alpha);
  const V vbeta = hn::Set(d, s.beta);
  const bool read_c = s.beta != T(0);
  // The flags in locals: read from s inside the store loops, they were
  // re-tested after every store (C might alias s).
  const T* bias = s.bias;
  const bool relu = s.relu;
#if HWY_TARGET <= HWY_AVX3
  // Transposed C (narrow products): full tiles scatter each accumulator row
  // into a column of C; no spill and reload through the stack.
  if (nr == NR && s.trans && ldc * NR < (size_t{1} << 31)) {
    using DI = hn::RebindToSigned<decltype(d)>;
    const DI di;
    const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<hn::TFromD<DI>>(ldc)));
#pragma GCC unroll 32
    for (size_t r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) {
        T* base = C + v * L * ldc + r;
        V c = hn::Mul(acc[r][v], valpha);
        if (read_c) c = hn::MulAdd(vbeta, hn::GatherIndex(d, base, idx), c);
        if (bias) c = hn::Add(c, hn::Set(d, bias[r]));
        if (relu) c = hn::Max(c, hn::Zero(d));
        hn::ScatterIndex(c, d, base, idx);
      }
    }
    return;
  }
#endif
  if (nr == NR && !s.trans) {
    // The common cases (alpha == 1, no bias, no ReLU: every K block but the
    // last of a plain product) get their own branch-free loops. Mul by 1 is
    // exact, so skipping it gives the same bits.
    if (s.alpha == T(1) && !bias && !relu) {
      const auto plain = [&](auto with_c) HWY_ATTR {
#pragma GCC unroll 32
        for (size_t r = 0; r < MR; ++r) {
          T* crow = C + r * ldc;
#pragma GCC unroll 4
          for (size_t v = 0; v < NV; ++v) {
            V c = acc[r][v];
            if (decltype(with_c)::value) c = hn::MulAdd(vbeta, hn::LoadU(d, crow + v * L), c);
            hn::StoreU(c, d, crow + v * L);
          }
        }
      };
      if (read_c)
        plain(std::true_type());
      else
        plain(std::false_type());
      return;
    }
    // The rest (alpha != 1, or the last K block with a bias or a ReLU): one
    // loop with the flags in locals, so that the code stays small (it is
    // instantiated for every row count, operand layout and target).
#pragma GCC unroll 32
    for (size_t r = 0; r < MR; ++r) {
      T* crow = C + r * ldc;
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) {
        V c = hn::Mul(acc[r][v], valpha);
        if (read_c) c = hn::MulAdd(vbeta, hn::LoadU(d, crow + v * L), c);
        if (bias) c = hn::Add(c, hn::LoadU(d, bias + v * L));
        if (relu) c = hn::Max(c, hn::Zero(d));
        hn::StoreU(c, d, crow + v * L);
      }
    }
    return;
  }
#if HWY_TARGET <= HWY_AVX3
  // Partial tile in N: AVX-512 masked loads/stores touch only the nr columns
  // (they neither fault nor write past them), same operations as above.
  if (!s.trans) {
#pragma GCC unroll 32
    for (size_t r = 0; r < MR; ++r) {
      T* crow = C + r * ldc;
#pragma GCC unroll 4
      for (size_t v = 0; v < NV; ++v) {
        if (v * L >= nr) break;
        const auto m = hn::FirstN(d, nr - v * L);
        V c = hn::Mul(acc[r][v], valpha);
        if (read_c) c = hn::MulAdd(vbeta, hn::MaskedLoad(m, d, crow + v * L), c);
        if (bias) c = hn::Add(c, hn::MaskedLoad(m, d, bias + v * L));
        if (relu) c = hn::Max(c, hn::Zero(d));
        hn::BlendedStore(c, m, d, crow + v * L);
      }
    }
    return;
  }
#endif
  // Partial tile in N or transposed C: spill the accumulators, then store
  // element by element with the same operations (one-lane vectors, so the
  // bits match the full-tile path on every target).
  HWY_ALIGN T tile[MR * NR];
#pragma GCC unroll 32
  for (size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) hn::Store(acc[r][v], d, tile + r * NR + v * L);
  const hn::CappedTag<T, 1> d1;
  const auto store = [&](size_t r, size_t c, T* cp, T b) HWY_ATTR {
    auto x = hn::Mul(hn::Set(d1, tile[r * NR + c]), hn::Set(d1, s.alpha));
    if (read_c) x = hn::MulAdd(hn::Set(d1, s.beta), hn::Set(d1, *cp), x);
    if (bias) x = hn::Add(x, hn::Set(d1, b));
    if (relu) x = hn::Max(x, hn::Zero(d1));
    *cp = hn::GetLane(x);
  };
  if (s.trans) {  // column c of the tile is a row of C
    for (size_t c = 0; c < nr; ++c)
      for (size_t r = 0; r < MR; ++r) store(r, c, C + c * ldc + r, bias ? bias[r] : T(0));
  } else {
    for (size_t r = 0; r < MR; ++r)
      for (size_t c = 0; c < nr; ++c) store(r, c, C + r * ldc + c, bias ? bias[c] : T(0));
  }
}

template <class T>
using MicroKernelFn = void (*)(size_t, const T*, size_t, const T*, size_t, T*, size_t, size_t,
                               const StoreArgs<T>&);

// Kernels for every row count 1..MR (the last micro-panel in M is not padded).
template <class T, size_t NV, bool kRowA, size_t... I>
constexpr auto MakeKernelTable(std::index_sequence<I...>) {
  struct Table {
    MicroKernelFn<T> fn[sizeof...(I)];
  };
  return Table{{&MicroKernel<I + 1, NV, kRowA, T>...}};
}

// ---------------------------------------------------------------------------
// Block (pc, jc) of op(B) in its slot of a SharedB, packed: the parts nobody
// has claimed are packed here (this tile's own part first), then the wait
// for the parts other threads are packing (see SharedB).
template <class T>
HWY_INLINE const T* SharedBlock(const GemmArgs<T>& g, SharedB<T>& sh, size_t slot, size_t first_part,
                                size_t pc, size_t kc, size_t jc, size_t nc) {
  constexpr size_t NR = Blocking<T>::kNR;
  T* blk = sh.buf + slot * sh.slot_elems;
  std::atomic<int>* state = sh.state + slot * sh.parts;
  const size_t panels = (nc + NR - 1) / NR;
  for (size_t q = 0; q < sh.parts; ++q) {
    const size_t part = (first_part + q) % sh.parts;
    int expected = 0;
    if (state[part].load(std::memory_order_relaxed) != 0 ||
        !state[part].compare_exchange_strong(expected, 1, std::memory_order_acquire))
      continue;
    const size_t p0 = panels * part / sh.parts, p1 = panels * (part + 1) / sh.parts;
    if (p1 > p0)
      PackB(g.trans_b, g.B, g.ldb, pc, kc, jc + p0 * NR, std::min(nc, p1 * NR) - p0 * NR, blk + p0 * kc * NR);
    state[part].store(2, std::memory_order_release);
  }
  // A part is packed in microseconds; if its packer lost its core, give ours
  // up rather than spin through the time slice.
  for (size_t part = 0; part < sh.parts; ++part)
    for (int spins = 0; state[part].load(std::memory_order_acquire) != 2; ++spins) {
      if (spins < (1 << 12)) {
#if HWY_ARCH_X86
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  return blk;
}

// C[m0:m1, n0:n1] of the product g (see the file comment for the loops).
// ws: workspace of at least Config<T>().workspace_elems elements, 64-byte
// aligned.
// `shared`: op(B) packed once for all threads (SharedB), used when this tile
// spans all of C's columns and packs B; `first_part` is the part of each
// block this tile packs first (its index among the tiles).
template <class T>
void GemmTile(const GemmArgs<T>& g, size_t m0, size_t m1, size_t n0, size_t n1,
              T* HWY_RESTRICT ws, SharedB<T>* shared = nullptr, size_t first_part = 0) {
  using Bk = Blocking<T>;
  constexpr size_t NR = Bk::kNR, KC = Bk::kKC, NC = Bk::kNC, L = Bk::kLanes;
  using Seq = std::make_index_sequence<Bk::kMR>;
  using Seq1 = std::make_index_sequence<Bk::kMR1>;
  static constexpr auto kWide = MakeKernelTable<T, Bk::kNV, false>(Seq());
  static constexpr auto kWideRow = MakeKernelTable<T, Bk::kNV, true>(Seq());
  static constexpr auto kNarrow = MakeKernelTable<T, 1, false>(Seq1());
  static constexpr auto kNarrowRow = MakeKernelTable<T, 1, true>(Seq1());
  // A tile at most one vector wide takes taller, one-vector micro-panels.
  // Rows are spread evenly over the micro-panels (16 rows: 8 + 8, not
  // 14 + 2, whose 4 accumulators would leave the FMA units waiting).
  const bool narrow = n1 - n0 <= L;
  const size_t MR_max = narrow ? Bk::kMR1 : Bk::kMR;
  const size_t panels = (m1 - m0 + MR_max - 1) / MR_max;
  const size_t MR = panels ? (m1 - m0 + panels - 1) / panels : MR_max;
  T* HWY_RESTRICT Bp = ws;
  T* HWY_RESTRICT Ap = ws + KC * NC;
  const size_t K = g.K;
  const T* bias = static_cast<const T*>(g.bias);
  const size_t kc_even = even_kc(K, KC);

  // Which operands the micro-kernels read in place instead of packing:
  //  - A (row-major): unless its rows are (nearly) a multiple of 4 KiB apart,
  //    where MR rows would fight over the same L1 sets.
  //  - Aᵀ: each k reads MR contiguous elements; unless its rows are a
  //    multiple of 4 KiB apart and the panel has more than kAConflictRows.
  //  - B (row-major, full NR panels): when few row panels of C reuse each
  //    packed panel, so packing would cost more than it saves
  //    (read_b_in_place).
  const size_t a_row_bytes = g.lda * sizeof(T), a_mod = a_row_bytes % 4096;
  const bool direct_a = g.trans_a ? a_mod != 0 || kc_even <= Bk::kAConflictRows
                                   : a_row_bytes < 4096 || (a_mod >= Bk::kAConflictBytes &&
                                                            a_mod <= 4096 - Bk::kAConflictBytes);
  const bool row_a = direct_a && !g.trans_a;
  const bool direct_b = !g.trans_b && read_b_in_place(m1 - m0, g.ldb * sizeof(T), kc_even, Bk::kDirectBRows);
  SharedB<T>* sh = shared && !direct_b && !narrow && n0 == 0 && n1 == g.N ? shared : nullptr;

  // A packed A that several NC blocks of columns reuse is packed once per KC
  // block, kMC rows at a time, rather than one micro-panel per NC block.
  // The blocks are of equal size (in whole micro-panels): with blocks of the
  // largest size, 2048 rows were 2044 + 4, and the 4-row block packed all of B
  // again for 0.2% of the product (2048³ at 1 thread: see docs/gemm.md).
  const bool a_block = !direct_a && n1 - n0 > NC;
  size_t MC = m1 - m0;
  if (a_block) {
    const size_t mc_max = std::max<size_t>(1, Bk::kMC / MR) * MR;
    const size_t blocks = (m1 - m0 + mc_max - 1) / mc_max;
    MC = ((m1 - m0 + blocks - 1) / blocks + MR - 1) / MR * MR;
  }

  for (size_t ic = m0; ic < m1; ic += MC) {
    const size_t i1 = std::min(m1, ic + MC);
    for (size_t pc = 0; pc < K; pc += kc_even) {
      const size_t kc = std::min(kc_even, K - pc);
      const bool first = pc == 0, last = pc + kc == K;
      if (a_block)  // panel at row ir: Ap + (ir - ic) * kc (all before it are MR rows)
        for (size_t ir = ic; ir < i1; ir += MR)
          PackA(g.trans_a, g.A, g.lda, ir, std::min(MR, i1 - ir), pc, kc, Ap + (ir - ic) * kc);
      for (size_t jc = n0; jc < n1; jc += NC) {
        const size_t nc = std::min(NC, n1 - jc);
        const size_t direct_panels = direct_b && !narrow ? nc / NR : 0;  // full NR-wide panels
        const T* b_block = Bp;
        if (sh)
          b_block = SharedBlock(g, *sh, pc / kc_even * sh->blocks_n + jc / NC, first_part, pc, kc, jc, nc);
        else
          PackB(g.trans_b, g.B, g.ldb, pc, kc, jc, nc, Bp, direct_panels);
        for (size_t ir = ic; ir < i1; ir += MR) {
          const size_t mr = std::min(MR, i1 - ir);
          const T* a_panel = a_block    ? Ap + (ir - ic) * kc
                             : !direct_a ? Ap
                             : g.trans_a ? g.A + pc * g.lda + ir
                                         : g.A + ir * g.lda + pc;
          const size_t a_stride = direct_a ? g.lda : mr;
          if (!direct_a && !a_block) PackA(g.trans_a, g.A, g.lda, ir, mr, pc, kc, Ap);
          const MicroKernelFn<T> last_kernel = row_a ? kNarrowRow.fn[mr - 1] : kNarrow.fn[mr - 1];
          const MicroKernelFn<T> kernel =
              narrow ? last_kernel : row_a ? kWideRow.fn[mr - 1] : kWide.fn[mr - 1];
          for (size_t jr = 0; jr < nc; jr += NR) {
            const size_t nr = std::min(NR, nc - jr);
            StoreArgs<T> s;
            s.alpha = g.alpha;
            s.beta = first ? g.beta : T(1);
            s.bias = (last && bias) ? bias + (g.trans_c ? ir : jc + jr) : nullptr;
            s.relu = last && g.relu;
            s.trans = g.trans_c;
            T* c = g.trans_c ? g.C + (jc + jr) * g.ldc + ir : g.C + ir * g.ldc + jc + jr;
            const bool in_place = jr / NR < direct_panels;
            const T* b_panel = in_place ? g.B + pc * g.ldb + jc + jr : b_block + jr * kc;
            const size_t b_stride = in_place ? g.ldb : nr <= L ? L : NR;
            (nr <= L ? last_kernel : kernel)(kc, a_panel, a_stride, b_panel, b_stride, c, g.ldc,
                                             nr, s);
          }
        }
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
