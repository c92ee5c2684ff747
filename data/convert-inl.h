// Highway body of u8_to_unit_float (see convert.h). Included once per target
// by convert.cc through HWY_TARGET_INCLUDE. A vector of N pixels per step:
// N bytes promoted to int32, converted to float, divided by 255. The last
// partial vector goes through stack buffers (Highway 1.0.3 has no LoadN, and
// a masked load may read a full vector), so nothing outside [src, src + n)
// is read and nothing outside [dst, dst + n) is written.
#include <cstdint>
#include <cstring>

#include "data/convert.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg::data::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void U8ToUnitFloat(const uint8_t* HWY_RESTRICT src, float* HWY_RESTRICT dst, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto k255 = hn::Set(d, 255.0f);
  int64_t k = 0;
  for (; k + N <= n; k += N) {
    const auto v = hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, src + k)));
    hn::StoreU(hn::Div(v, k255), d, dst + k);
  }
  if (k < n) {
    HWY_ALIGN uint8_t in[hn::MaxLanes(d)] = {};
    HWY_ALIGN float out[hn::MaxLanes(d)];
    std::memcpy(in, src + k, size_t(n - k));
    const auto v = hn::ConvertTo(d, hn::PromoteTo(di, hn::Load(d8, in)));
    hn::Store(hn::Div(v, k255), d, out);
    std::memcpy(dst + k, out, size_t(n - k) * sizeof(float));
  }
}

const char* ConvertTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace tg::data::kernels
HWY_AFTER_NAMESPACE();
