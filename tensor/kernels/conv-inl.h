// Per-target bodies of tg::kernels::copy_spans / add_spans / row_dots (see
// conv.h for the contracts). LeNet's spans are 28 and 10 elements long, so the per-span
// overhead is what matters: copies use whole vectors and let the last one run
// over (into the next span's place or the caller's slack); adds cannot run
// over, so their tail steps down to 128-bit and then one-lane vectors.
#if defined(TG_TENSOR_KERNELS_CONV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_CONV_INL_H_
#undef TG_TENSOR_KERNELS_CONV_INL_H_
#else
#define TG_TENSOR_KERNELS_CONV_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <algorithm>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void CopySpans(const T* HWY_RESTRICT src, size_t src_stride, size_t rows, size_t len,
               T* HWY_RESTRICT dst) {
  const hn::ScalableTag<T> d;
  const size_t L = hn::Lanes(d);
  for (size_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_stride;
    T* o = dst + r * len;
    for (size_t i = 0; i < len; i += L) hn::StoreU(hn::LoadU(d, s + i), d, o + i);
  }
}

// dst[i] += src[i] for i < n, touching nothing else.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE size_t AddStep(D d, const T* HWY_RESTRICT src, T* HWY_RESTRICT dst, size_t i,
                          size_t n) {
  const size_t L = hn::Lanes(d);
  for (; i + L <= n; i += L) hn::StoreU(hn::Add(hn::LoadU(d, dst + i), hn::LoadU(d, src + i)), d, dst + i);
  return i;
}

template <class T>
void AddSpans(const T* HWY_RESTRICT src, size_t rows, size_t len, T* HWY_RESTRICT dst,
              size_t dst_stride) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 16 / sizeof(T)> d4;
  const hn::CappedTag<T, 1> d1;
  for (size_t r = 0; r < rows; ++r) {
    const T* s = src + r * len;
    T* o = dst + r * dst_stride;
    size_t i = AddStep(d, s, o, 0, len);
    i = AddStep(d4, s, o, i, len);
    AddStep(d1, s, o, i, len);
  }
}

// ---- row_dots: out[o, q] = sum over images i, rows r, j < len of
//      a[i·a_img + o·a_chan + r·a_row + j] · b[i·b_img + b_off[q] + r·b_row + j]
// A block of MO a-rows x MQ b-rows keeps MO·MQ vector accumulators (24 of the
// 32 AVX-512 registers; 9 of 16 elsewhere); per vector of j it loads MO + MQ
// vectors for MO·MQ FMAs. Rows past M (N) in the last block repeat row M-1
// (N-1) and their sums are dropped. The last partial vector of a row is masked
// to zero in both operands, so whatever lies past len (the caller's slack) never
// reaches a sum, NaN included. Each accumulator is reduced once, at the end.
#if HWY_MAX_BYTES >= 64
inline constexpr size_t kDotMO = 6, kDotMQ = 4;
#else
inline constexpr size_t kDotMO = 3, kDotMQ = 3;
#endif

template <class T>
void RowDots(const T* HWY_RESTRICT a, size_t a_img, size_t a_chan, size_t a_row, size_t M,
             const T* HWY_RESTRICT b, const int64_t* HWY_RESTRICT b_off, size_t b_img, size_t b_row,
             size_t N, size_t imgs, size_t rows, size_t len, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t L = hn::Lanes(d);
  const size_t full = len / L * L;
  const auto tail = hn::FirstN(d, len - full);
  for (size_t o0 = 0; o0 < M; o0 += kDotMO) {
    const T* ar[kDotMO];
    for (size_t i = 0; i < kDotMO; ++i) ar[i] = a + std::min(o0 + i, M - 1) * a_chan;
    for (size_t q0 = 0; q0 < N; q0 += kDotMQ) {
      const T* br[kDotMQ];
      for (size_t k = 0; k < kDotMQ; ++k) br[k] = b + b_off[std::min(q0 + k, N - 1)];
      V acc[kDotMO][kDotMQ];
      for (size_t i = 0; i < kDotMO; ++i)
        for (size_t k = 0; k < kDotMQ; ++k) acc[i][k] = hn::Zero(d);
      for (size_t im = 0; im < imgs; ++im)
        for (size_t r = 0; r < rows; ++r) {
          const size_t ao = im * a_img + r * a_row, bo = im * b_img + r * b_row;
          size_t j = 0;
          for (; j < full; j += L) {
            V va[kDotMO];
            for (size_t i = 0; i < kDotMO; ++i) va[i] = hn::LoadU(d, ar[i] + ao + j);
            for (size_t k = 0; k < kDotMQ; ++k) {
              const V vb = hn::LoadU(d, br[k] + bo + j);
              for (size_t i = 0; i < kDotMO; ++i) acc[i][k] = hn::MulAdd(va[i], vb, acc[i][k]);
            }
          }
          if (j < len) {
            V va[kDotMO];
            for (size_t i = 0; i < kDotMO; ++i) va[i] = hn::IfThenElseZero(tail, hn::LoadU(d, ar[i] + ao + j));
            for (size_t k = 0; k < kDotMQ; ++k) {
              const V vb = hn::IfThenElseZero(tail, hn::LoadU(d, br[k] + bo + j));
              for (size_t i = 0; i < kDotMO; ++i) acc[i][k] = hn::MulAdd(va[i], vb, acc[i][k]);
            }
          }
        }
      for (size_t i = 0; i < kDotMO && o0 + i < M; ++i)
        for (size_t k = 0; k < kDotMQ && q0 + k < N; ++k)
          out[(o0 + i) * N + q0 + k] = hn::GetLane(hn::SumOfLanes(d, acc[i][k]));
    }
  }
}

void RowDotsF32(const float* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const float* b,
                const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                int64_t len, float* out) {
  RowDots(a, size_t(a_img), size_t(a_chan), size_t(a_row), size_t(M), b, b_off, size_t(b_img), size_t(b_row),
          size_t(N), size_t(imgs), size_t(rows), size_t(len), out);
}
void RowDotsF64(const double* a, int64_t a_img, int64_t a_chan, int64_t a_row, int64_t M, const double* b,
                const int64_t* b_off, int64_t b_img, int64_t b_row, int64_t N, int64_t imgs, int64_t rows,
                int64_t len, double* out) {
  RowDots(a, size_t(a_img), size_t(a_chan), size_t(a_row), size_t(M), b, b_off, size_t(b_img), size_t(b_row),
          size_t(N), size_t(imgs), size_t(rows), size_t(len), out);
}

void CopySpansF32(const float* src, int64_t ss, int64_t rows, int64_t len, float* dst) {
  CopySpans(src, size_t(ss), size_t(rows), size_t(len), dst);
}
void CopySpansF64(const double* src, int64_t ss, int64_t rows, int64_t len, double* dst) {
  CopySpans(src, size_t(ss), size_t(rows), size_t(len), dst);
}
void AddSpansF32(const float* src, int64_t rows, int64_t len, float* dst, int64_t ds) {
  AddSpans(src, size_t(rows), size_t(len), dst, size_t(ds));
}
void AddSpansF64(const double* src, int64_t rows, int64_t len, double* dst, int64_t ds) {
  AddSpans(src, size_t(rows), size_t(len), dst, size_t(ds));
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
