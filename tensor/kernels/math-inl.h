// Per-vector IEEE wrappers of Highway's Exp and Log, shared by the elementwise
// (elementwise-inl.h) and loss (loss-inl.h) kernels.
//
// Highway's Exp is documented valid up to 104 (float) / 706 (double; measured
// within 2.1e-16 of std::exp up to log(DBL_MAX) = 709.78 on every target) and
// Log on (0, max]: outside, they return garbage (exp(200) = 0, log(0) = -105,
// log(NaN) = 89). These wrappers give the IEEE results there, as std::exp /
// std::log do: exp(x) = inf above 104 (float, already inf from 88.73) or
// 709.78 (double), 0 far below (-inf included), log(0) = -inf, log(x < 0) =
// NaN, log(inf) = inf, NaN -> NaN.
// Included per target by the *-inl.h files that use it (toggle guard).

#if defined(TG_TENSOR_KERNELS_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TG_TENSOR_KERNELS_MATH_INL_H_
#undef TG_TENSOR_KERNELS_MATH_INL_H_
#else
#define TG_TENSOR_KERNELS_MATH_INL_H_
#endif

#include <limits>

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tg::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V ExpIeee(D d, V x) {
  using T = hn::TFromD<D>;
  const V y = hn::Exp(d, x);
  const V big = hn::Set(d, sizeof(T) == 4 ? T(104) : T(709.782712893384));
  const V inf = hn::Set(d, std::numeric_limits<T>::infinity());
  return hn::IfThenElse(hn::IsNaN(x), x, hn::IfThenElse(hn::Gt(x, big), inf, y));
}

template <class D, class V>
HWY_INLINE V LogIeee(D d, V x) {
  using T = hn::TFromD<D>;
  const V zero = hn::Zero(d);
  const V inf = hn::Set(d, std::numeric_limits<T>::infinity());
  V y = hn::Log(d, x);
  y = hn::IfThenElse(hn::Eq(x, zero), hn::Neg(inf), y);
  y = hn::IfThenElse(hn::Eq(x, inf), x, y);
  y = hn::IfThenElse(hn::Lt(x, zero), hn::Set(d, std::numeric_limits<T>::quiet_NaN()), y);
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

}  // namespace HWY_NAMESPACE
}  // namespace tg::kernels
HWY_AFTER_NAMESPACE();

#endif  // include guard
