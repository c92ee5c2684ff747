// Per-target body of tg::kernels::max_pool2x2_row (see pool.h for the
// contract). One 128-bit vector of outputs per step (4 floats, 2 doubles):
// LeNet's rows are 14 and 5 outputs wide, too short for wider vectors.
// LoadInterleaved2 splits each input row into its even and odd columns; the
// window's four candidates are then compared in order with the NaN rule
//   take v  <=>  v > best  or  v is NaN
// as masks, so there are no branches. The last n % lanes outputs go through
// one-lane vectors with the same operations.
#if defined(TG_TENSOR_KERNELS_POOL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_POOL_INL_H_
#undef TG_TENSOR_KERNELS_POOL_INL_H_
#else
#define TG_TENSOR_KERNELS_POOL_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg {
namespace kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One vector of windows: d's lanes of outputs from 2 * lanes inputs per row.
template <class D, class T = hn::TFromD<D>, class I = hwy::MakeSigned<T>>
HWY_INLINE void MaxPool2x2Vec(D d, const T* HWY_RESTRICT r0, const T* HWY_RESTRICT r1,
                              T* HWY_RESTRICT y, I* HWY_RESTRICT code) {
  const hn::RebindToSigned<D> di;
  hn::Vec<D> v0, v1, v2, v3;
  hn::LoadInterleaved2(d, r0, v0, v1);
  hn::LoadInterleaved2(d, r1, v2, v3);
  auto best = v0;
  auto pos = hn::Zero(di);
  const auto take1 = hn::Or(hn::Gt(v1, best), hn::IsNaN(v1));
  best = hn::IfThenElse(take1, v1, best);
  pos = hn::IfThenElse(hn::RebindMask(di, take1), hn::Set(di, I(1)), pos);
  const auto take2 = hn::Or(hn::Gt(v2, best), hn::IsNaN(v2));
  best = hn::IfThenElse(take2, v2, best);
  pos = hn::IfThenElse(hn::RebindMask(di, take2), hn::Set(di, I(2)), pos);
  const auto take3 = hn::Or(hn::Gt(v3, best), hn::IsNaN(v3));
  best = hn::IfThenElse(take3, v3, best);
  pos = hn::IfThenElse(hn::RebindMask(di, take3), hn::Set(di, I(3)), pos);
  hn::StoreU(best, d, y);
  hn::StoreU(pos, di, code);
}

template <class T, class I = hwy::MakeSigned<T>>
void MaxPool2x2Row(const T* HWY_RESTRICT r0, const T* HWY_RESTRICT r1, size_t n,
                   T* HWY_RESTRICT y, I* HWY_RESTRICT code) {
  const hn::CappedTag<T, 16 / sizeof(T)> d;
  const size_t L = hn::Lanes(d);
  size_t i = 0;
  for (; i + L <= n; i += L) MaxPool2x2Vec(d, r0 + 2 * i, r1 + 2 * i, y + i, code + i);
  const hn::CappedTag<T, 1> d1;
  for (; i < n; ++i) MaxPool2x2Vec(d1, r0 + 2 * i, r1 + 2 * i, y + i, code + i);
}

void MaxPool2x2RowF32(const float* r0, const float* r1, int64_t n, float* y, int32_t* code) {
  MaxPool2x2Row(r0, r1, static_cast<size_t>(n), y, code);
}
void MaxPool2x2RowF64(const double* r0, const double* r1, int64_t n, double* y, int64_t* code) {
  MaxPool2x2Row(r0, r1, static_cast<size_t>(n), y, code);
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
