// Per-target bodies of tg::kernels::copy_spans / add_spans (see conv.h for
// the contract). LeNet's spans are 28 and 10 elements long, so the per-span
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
