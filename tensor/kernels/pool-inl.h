// Per-target body of tg::kernels::max_pool2x2_plane (see pool.h for the
// contract). LoadInterleaved2 (or, for a masked tail, ConcatEven/ConcatOdd)
// splits each input row into its even and odd columns; the window's four
// candidates are then compared in order with the NaN rule
//   take v  <=>  v > best  or  v is NaN
// as masks, so there are no branches.
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

// ---- A whole plane, with flat argmax indices (see pool.h: max_pool2x2_plane).
// Output row oh reads input rows 2oh and 2oh+1; window position code 0..3 of
// output ow becomes the flat index (2oh + code/2)·W + 2ow + code%2, computed in
// the vector's integer lanes and widened to int64. Full vectors of outputs
// first; on AVX-512 the rest of a row is one masked step (masked loads do not
// touch memory past the row), elsewhere 128-bit and then one-lane steps.

// The window rule on one vector: best of (v0, v1, v2, v3) and its position.
template <class D, class V = hn::Vec<D>, class VI = hn::Vec<hn::RebindToSigned<D>>>
HWY_INLINE V Window4(D d, V v0, V v1, V v2, V v3, VI* pos) {
  const hn::RebindToSigned<D> di;
  using I = hn::TFromD<decltype(di)>;
  V best = v0;
  VI p = hn::Zero(di);
  const auto take1 = hn::Or(hn::Gt(v1, best), hn::IsNaN(v1));
  best = hn::IfThenElse(take1, v1, best);
  p = hn::IfThenElse(hn::RebindMask(di, take1), hn::Set(di, I(1)), p);
  const auto take2 = hn::Or(hn::Gt(v2, best), hn::IsNaN(v2));
  best = hn::IfThenElse(take2, v2, best);
  p = hn::IfThenElse(hn::RebindMask(di, take2), hn::Set(di, I(2)), p);
  const auto take3 = hn::Or(hn::Gt(v3, best), hn::IsNaN(v3));
  best = hn::IfThenElse(take3, v3, best);
  p = hn::IfThenElse(hn::RebindMask(di, take3), hn::Set(di, I(3)), p);
  *pos = p;
  (void)d;
  return best;
}

// Flat indices base + 2·lane + code%2 + (code/2)·W of `count` lanes, as int64.
template <class DI, class VI = hn::Vec<DI>>
HWY_INLINE void StoreIndices(DI di, VI code, int64_t base, int64_t W, size_t count, int64_t* HWY_RESTRICT out) {
  using I = hn::TFromD<DI>;
  const VI one = hn::Set(di, I(1));
  const VI idx = hn::Add(hn::Add(hn::Set(di, I(base)), hn::Add(hn::Iota(di, 0), hn::Iota(di, 0))),
                         hn::Add(hn::And(code, one), hn::Mul(hn::ShiftRight<1>(code), hn::Set(di, I(W)))));
  const size_t L = hn::Lanes(di);
  if constexpr (sizeof(I) == 8) {
    if (count == L) {
      hn::StoreU(idx, di, out);
      return;
    }
  }
#if HWY_TARGET != HWY_SCALAR
  if constexpr (sizeof(I) == 4 && hn::MaxLanes(DI()) >= 2) {
    // int32 lanes: widen each half to int64
    const hn::Half<DI> dh;
    const hn::Rebind<int64_t, decltype(dh)> d64;
    const auto lo = hn::PromoteTo(d64, hn::LowerHalf(dh, idx)), hi = hn::PromoteTo(d64, hn::UpperHalf(dh, idx));
    const size_t H = L / 2;
    if (count == L) {
      hn::StoreU(lo, d64, out);
      hn::StoreU(hi, d64, out + H);
      return;
    }
#if HWY_TARGET <= HWY_AVX3
    hn::BlendedStore(lo, hn::FirstN(d64, count < H ? count : H), d64, out);
    if (count > H) hn::BlendedStore(hi, hn::FirstN(d64, count - H), d64, out + H);
    return;
#endif
  }
#endif
  HWY_ALIGN I tmp[hn::MaxLanes(DI())];
  hn::Store(idx, di, tmp);
  for (size_t i = 0; i < count; ++i) out[i] = int64_t(tmp[i]);
}

template <class T>
void MaxPool2x2Plane(const T* HWY_RESTRICT x, size_t W, size_t OH, size_t OW, T* HWY_RESTRICT y,
                     int64_t* HWY_RESTRICT argmax) {
  const hn::ScalableTag<T> d;
  const hn::RebindToSigned<decltype(d)> di;
  using VI = hn::Vec<decltype(di)>;
  const size_t L = hn::Lanes(d);
  for (size_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yr = y + oh * OW;
    int64_t* ar = argmax ? argmax + oh * OW : nullptr;
    const int64_t base = int64_t(2 * oh * W);
    size_t i = 0;
    for (; i + L <= OW; i += L) {
      hn::Vec<decltype(d)> v0, v1, v2, v3;
      hn::LoadInterleaved2(d, r0 + 2 * i, v0, v1);
      hn::LoadInterleaved2(d, r1 + 2 * i, v2, v3);
      VI code;
      hn::StoreU(Window4(d, v0, v1, v2, v3, &code), d, yr + i);
      if (ar) StoreIndices(di, code, base + int64_t(2 * i), int64_t(W), L, ar + i);
    }
    if (i == OW) continue;
#if HWY_TARGET <= HWY_AVX3
    {
      const size_t n = OW - i, n2 = 2 * n;  // n < L outputs, 2n inputs per row
      const auto m_lo = hn::FirstN(d, n2), m_hi = hn::FirstN(d, n2 > L ? n2 - L : 0);
      const auto a0 = hn::MaskedLoad(m_lo, d, r0 + 2 * i), b0 = hn::MaskedLoad(m_hi, d, r0 + 2 * i + L);
      const auto a1 = hn::MaskedLoad(m_lo, d, r1 + 2 * i), b1 = hn::MaskedLoad(m_hi, d, r1 + 2 * i + L);
      VI code;
      const auto best = Window4(d, hn::ConcatEven(d, b0, a0), hn::ConcatOdd(d, b0, a0), hn::ConcatEven(d, b1, a1),
                                hn::ConcatOdd(d, b1, a1), &code);
      hn::BlendedStore(best, hn::FirstN(d, n), d, yr + i);
      if (ar) StoreIndices(di, code, base + int64_t(2 * i), int64_t(W), n, ar + i);
    }
#else
    {
      const hn::CappedTag<T, 16 / sizeof(T)> d4;
      const hn::RebindToSigned<decltype(d4)> di4;
      const size_t L4 = hn::Lanes(d4);
      for (; i + L4 <= OW; i += L4) {
        hn::Vec<decltype(d4)> v0, v1, v2, v3;
        hn::LoadInterleaved2(d4, r0 + 2 * i, v0, v1);
        hn::LoadInterleaved2(d4, r1 + 2 * i, v2, v3);
        hn::Vec<decltype(di4)> code;
        hn::StoreU(Window4(d4, v0, v1, v2, v3, &code), d4, yr + i);
        if (ar) StoreIndices(di4, code, base + int64_t(2 * i), int64_t(W), L4, ar + i);
      }
      const hn::CappedTag<T, 1> d1;
      const hn::RebindToSigned<decltype(d1)> di1;
      for (; i < OW; ++i) {
        hn::Vec<decltype(d1)> v0, v1, v2, v3;
        hn::LoadInterleaved2(d1, r0 + 2 * i, v0, v1);
        hn::LoadInterleaved2(d1, r1 + 2 * i, v2, v3);
        hn::Vec<decltype(di1)> code;
        hn::StoreU(Window4(d1, v0, v1, v2, v3, &code), d1, yr + i);
        if (ar) StoreIndices(di1, code, base + int64_t(2 * i), int64_t(W), 1, ar + i);
      }
    }
#endif
  }
}

void MaxPool2x2PlaneF32(const float* x, int64_t W, int64_t OH, int64_t OW, float* y, int64_t* argmax) {
  MaxPool2x2Plane(x, size_t(W), size_t(OH), size_t(OW), y, argmax);
}
void MaxPool2x2PlaneF64(const double* x, int64_t W, int64_t OH, int64_t OW, double* y, int64_t* argmax) {
  MaxPool2x2Plane(x, size_t(W), size_t(OH), size_t(OW), y, argmax);
}

}  // namespace HWY_NAMESPACE
}  // namespace kernels
}  // namespace tg
HWY_AFTER_NAMESPACE();

#endif  // include guard
