// Highway body of warp_bilinear (see warp.h). Included once per target by
// warp.cc through HWY_TARGET_INCLUDE. One output row at a time, a vector of
// columns per step: coordinates from Iota, clamp, truncate to int32, four
// gathers, three lerps. The last partial vector goes through a stack buffer;
// its clamped coordinates keep every gather inside the padded source.
#include <cstdint>
#include <cstring>

#include "data/warp.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace tg::data::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void WarpBilinear(const float* HWY_RESTRICT pad, int64_t pw, const float* HWY_RESTRICT row_x,
                  const float* HWY_RESTRICT row_y, float dxq, float dyq, float* HWY_RESTRICT out, int64_t h,
                  int64_t w) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const size_t N = hn::Lanes(d);
  const auto vpad = hn::Set(d, float(kWarpPad));
  const auto zero = hn::Zero(d);
  const auto xmax = hn::Set(d, float(w + kWarpPad));
  const auto ymax = hn::Set(d, float(h + kWarpPad));
  const auto vdx = hn::Set(d, dxq), vdy = hn::Set(d, dyq);
  const auto vpw = hn::Set(di, int32_t(pw));
  const auto one = hn::Set(di, 1);
  const auto vpw1 = hn::Set(di, int32_t(pw + 1));
  (void)one;
  (void)vpw1;
#if HWY_TARGET != HWY_SCALAR
  const hn::Half<decltype(di)> dih;
  const hn::Repartition<int64_t, decltype(d)> d64;
#endif
  HWY_ALIGN float tail[hn::MaxLanes(d)];
  for (int64_t r = 0; r < h; ++r) {
    const auto x0 = hn::Set(d, row_x[r]), y0 = hn::Set(d, row_y[r]);
    float* o = out + r * w;
    for (int64_t q = 0; q < w; q += int64_t(N)) {
      const auto fq = hn::Add(hn::Iota(d, 0.0f), hn::Set(d, float(q)));
      auto sx = hn::Add(hn::Add(x0, hn::Mul(fq, vdx)), vpad);
      auto sy = hn::Add(hn::Add(y0, hn::Mul(fq, vdy)), vpad);
      sx = hn::Min(hn::Max(sx, zero), xmax);
      sy = hn::Min(hn::Max(sy, zero), ymax);
      const auto ix = hn::ConvertTo(di, sx), iy = hn::ConvertTo(di, sy);  // truncation = floor (>= 0)
      const auto fx = hn::Sub(sx, hn::ConvertTo(d, ix));
      const auto fy = hn::Sub(sy, hn::ConvertTo(d, iy));
      const auto idx = hn::Add(hn::Mul(iy, vpw), ix);
#if HWY_TARGET == HWY_SCALAR
      const auto p00 = hn::GatherIndex(d, pad, idx);
      const auto p01 = hn::GatherIndex(d, pad, hn::Add(idx, one));
      const auto p10 = hn::GatherIndex(d, pad, hn::Add(idx, vpw));
      const auto p11 = hn::GatherIndex(d, pad, hn::Add(idx, vpw1));
#else
      // Horizontal neighbours are adjacent floats: gather them as one 64-bit
      // lane (byte offsets; x86 gathers accept any alignment), then split the
      // pairs with ConcatEven/ConcatOdd. Half the gathered elements of four
      // 32-bit gathers.
      const auto off = hn::ShiftLeft<2>(idx);                        // bytes
      const auto olo = hn::PromoteTo(d64, hn::LowerHalf(dih, off));  // pixels [0, N/2)
      const auto ohi = hn::PromoteTo(d64, hn::UpperHalf(dih, off));  // pixels [N/2, N)
      const auto orow = hn::Set(d64, int64_t(pw) * 4);
      const int64_t* base = reinterpret_cast<const int64_t*>(pad);
      const auto tlo = hn::BitCast(d, hn::GatherOffset(d64, base, olo));
      const auto thi = hn::BitCast(d, hn::GatherOffset(d64, base, ohi));
      const auto blo = hn::BitCast(d, hn::GatherOffset(d64, base, hn::Add(olo, orow)));
      const auto bhi = hn::BitCast(d, hn::GatherOffset(d64, base, hn::Add(ohi, orow)));
      const auto p00 = hn::ConcatEven(d, thi, tlo), p01 = hn::ConcatOdd(d, thi, tlo);
      const auto p10 = hn::ConcatEven(d, bhi, blo), p11 = hn::ConcatOdd(d, bhi, blo);
#endif
      const auto top = hn::Add(p00, hn::Mul(fx, hn::Sub(p01, p00)));
      const auto bot = hn::Add(p10, hn::Mul(fx, hn::Sub(p11, p10)));
      const auto v = hn::Add(top, hn::Mul(fy, hn::Sub(bot, top)));
      if (q + int64_t(N) <= w) {
        hn::StoreU(v, d, o + q);
      } else {
        hn::Store(v, d, tail);
        std::memcpy(o + q, tail, size_t(w - q) * sizeof(float));
      }
    }
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace tg::data::kernels
HWY_AFTER_NAMESPACE();
