// Bilinear image warping kernels behind RandomRotation, and the padded copy
// they read (Highway, dynamically dispatched, with the scalar twins
// warp_bilinear_ref, warp_bilinear_normalize_ref, pad_shifted_ref and
// pad_shifted_bytes_ref they are tested against on every target).
//
// `pad` is the source image embedded in a buffer with a border of kWarpPad
// pixels of the fill value on every side (row stride pw = w + 2*kWarpPad,
// ph = h + 2*kWarpPad rows). For output pixel (r, q) of the h x w result:
//   sx = (row_x[r] + q * dxq) + kWarpPad,  sy = (row_y[r] + q * dyq) + kWarpPad
// clamped to [0, w + kWarpPad] x [0, h + kWarpPad] (so anything outside reads
// the fill border), then
//   out = lerp(lerp(p00, p01, fx), lerp(p10, p11, fx), fy)
// with plain multiplies and adds in this order (no FMA), so every target and
// the scalar twin give the same bits. warp_bilinear_normalize then stores
// (out - mean) / std (one subtraction, one division: the bits of Normalize
// applied after the warp). Kernels know nothing of tensors: no allocation, no
// threads, no checks.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace tg::data::kernels {

inline constexpr int64_t kWarpPad = 2;

// out: h rows of w floats (row stride w). row_x, row_y: h floats each.
void warp_bilinear(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq, float dyq,
                   float* out, int64_t h, int64_t w);
void warp_bilinear_ref(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq, float dyq,
                       float* out, int64_t h, int64_t w);
void warp_bilinear_normalize(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq,
                             float dyq, float* out, int64_t h, int64_t w, float mean, float std);
void warp_bilinear_normalize_ref(const float* pad, int64_t pw, const float* row_x, const float* row_y, float dxq,
                                 float dyq, float* out, int64_t h, int64_t w, float mean, float std);
// pad (h + 2*kWarpPad rows of pw = w + 2*kWarpPad floats) = the h x w image
// shifted by (dx, dy), pad(r + P, c + P) = img(r - dy, c - dx), with `tfill`
// where that falls outside the image, inside a border of kWarpPad pixels of
// `rfill`: the padded source of a warp, translation included.
// Shifts are clamped to [-w, w] x [-h, h] first (the same image; no overflow).
void pad_shifted(const float* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill, float* pad);
void pad_shifted_ref(const float* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                     float* pad);
// The same from an image of bytes standing for byte / 255 (uint8 storage, as
// MNIST keeps it): the bits of u8_to_unit_float followed by pad_shifted, with
// no float copy of the image. Reads only img[0, h * w).
void pad_shifted_bytes(const uint8_t* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                       float* pad);
void pad_shifted_bytes_ref(const uint8_t* img, int64_t h, int64_t w, int64_t dx, int64_t dy, float tfill, float rfill,
                           float* pad);
// Row `out` (w floats) of an image shifted by dx (|dx| <= w): columns
// [q0, q1) = [max(dx, 0), min(w + dx, w)) from row sr of `img` (memmove:
// `img` may be the image being shifted), `fill` elsewhere, and everywhere when
// sr is outside [0, h). Used by translate and by pad_shifted's row-by-row path.
// From an image of bytes (pad_shifted_bytes), each byte b becomes b / 255.
template <class T>
inline void shifted_row(float* out, const T* img, int64_t sr, int64_t h, int64_t w, int64_t dx, float fill) {
  const int64_t q0 = std::max<int64_t>(dx, 0), q1 = std::min(w + dx, w);
  if (sr < 0 || sr >= h || q0 >= q1) {
    std::fill(out, out + w, fill);
    return;
  }
  if constexpr (std::is_same_v<T, float>)
    std::memmove(out + q0, img + sr * w + (q0 - dx), size_t(q1 - q0) * sizeof(float));
  else
    for (int64_t q = q0; q < q1; ++q) out[q] = float(int32_t(img[sr * w + (q - dx)])) / 255.0f;
  std::fill(out, out + q0, fill);
  std::fill(out + q1, out + w, fill);
}

// Name of the Highway target chosen at run time (for benchmarks).
const char* warp_target_name();

}  // namespace tg::data::kernels
