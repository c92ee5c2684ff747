// Per-target compilation and dynamic dispatch of warp-inl.h, and the scalar
// twins warp_bilinear_ref / warp_bilinear_normalize_ref (same operations in
// the same order), pad_shifted_ref and pad_shifted_bytes_ref.
// Contracting a*b+c into an FMA would differ between targets (and from the
// scalar twin, and could move the scalar source rows the band is computed
// from); GCC contracts by default in C++ and clang within an expression, so it
// is switched off here for both.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "data/warp.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "data/warp-inl.h"

#if HWY_ONCE
#include <algorithm>

namespace tg::data::kernels {

HWY_EXPORT(WarpBilinear);
HWY_EXPORT(WarpBilinearNormalize);
HWY_EXPORT(TargetName);
HWY_EXPORT(PadShifted);
HWY_EXPORT(PadShiftedBytes);

void warp_bilinear(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq, float dyq,
                   float* out, int64_t h, int64_t w) {
  HWY_DYNAMIC_DISPATCH(WarpBilinear)(pad, pw, row_x, row_y, dxq, dyq, out, h, w);
}

void warp_bilinear_normalize(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq,
                             float dyq, float* out, int64_t h, int64_t w, float mean, float std) {
  HWY_DYNAMIC_DISPATCH(WarpBilinearNormalize)(pad, pw, row_x, row_y, dxq, dyq, out, h, w, mean, std);
}

// A shift of the image's size or more leaves none of it: clamped there, so
// that no index arithmetic can overflow, whatever the shift.
void pad_shifted(const float* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill, float* pad) {
  HWY_DYNAMIC_DISPATCH(PadShifted)(img, h, w, std::clamp(dx, -w, w), std::clamp(dy, -h, h), tfill, rfill, pad);
}

void pad_shifted_bytes(const uint8_t* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                       float* pad) {
  HWY_DYNAMIC_DISPATCH(PadShiftedBytes)(img, h, w, std::clamp(dx, -w, w), std::clamp(dy, -h, h), tfill, rfill, pad);
}
const char* warp_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

namespace {
template <bool kNormalize>
void warp_ref(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq, float dyq, float* out,
              int64_t h, int64_t w, float mean, float std) {
  const float xmax = float(w + kWarpPad), ymax = float(h + kWarpPad);
  for (int64_t r = 0; r < h; ++r) {
    for (int64_t q = 0; q < w; ++q) {
      const float fq = float(q);
      float sx = (row_x[r] + fq * dxq) + float(kWarpPad);
      float sy = (row_y[r] + fq * dyq) + float(kWarpPad);
      sx = std::min(std::max(sx, 0.0f), xmax);
      sy = std::min(std::max(sy, 0.0f), ymax);
      const int32_t ix = int32_t(sx), iy = int32_t(sy);
      const float fx = sx - float(ix), fy = sy - float(iy);
      const float* p = pad + int64_t(iy) * pw + ix;
      const float top = p[0] + fx * (p[1] - p[0]);
      const float bot = p[pw] + fx * (p[pw + 1] - p[pw]);
      const float v = top + fy * (bot - top);
      out[r * w + q] = kNormalize ? (v - mean) / std : v;
    }
  }
}
}  // namespace

void warp_bilinear_ref(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq, float dyq,
                       float* out, int64_t h, int64_t w) {
  warp_ref<false>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, 0.0f, 1.0f);
}

void warp_bilinear_normalize_ref(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq,
                                 float dyq, float* out, int64_t h, int64_t w, float mean, float std) {
  warp_ref<true>(pad, pw, row_x, row_y, dxq, dyq, out, h, w, mean, std);
}

namespace {
float source_value(float v) { return v; }
float source_value(uint8_t v) { return float(int32_t(v)) / 255.0f; }  // u8_to_unit_float_ref's
template <class T>
void pad_ref(const T* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill, float* pad) {
  const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
  dx = std::clamp(dx, -w, w);  // as pad_shifted: the same image, no overflow
  dy = std::clamp(dy, -h, h);
  for (int64_t pr = 0; pr < ph; ++pr) {
    for (int64_t pc = 0; pc < pw; ++pc) {
      const int64_t r = pr - kWarpPad, c = pc - kWarpPad;  // image coordinates
      const int64_t sr = r - dy, sc = c - dx;              // where the shift takes them from
      const bool in_image = r >= 0 && r < h && c >= 0 && c < w;
      const bool from_image = sr >= 0 && sr < h && sc >= 0 && sc < w;
      pad[pr * pw + pc] = !in_image ? rfill : from_image ? source_value(img[sr * w + sc]) : tfill;
    }
  }
}
}  // namespace
void pad_shifted_ref(const float* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                     float* pad) {
  pad_ref(img, h, w, dx, dy, tfill, rfill, pad);
}
void pad_shifted_bytes_ref(const uint8_t* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                           float* pad) {
  pad_ref(img, h, w, dx, dy, tfill, rfill, pad);
}

}  // namespace tg::data::kernels
#endif  // HWY_ONCE
