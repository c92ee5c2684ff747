// Image transforms (see transforms.h). Every random transform draws from the
// generator it is given, in a fixed order, so a (seed, epoch, index) triple
// fixes its result. Geometric transforms work through a per-thread scratch
// buffer: no allocation per example after the first.
#include "data/transforms.h"

#include "data/convert.h"
#include "data/warp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/random.h"
#include <numbers>
#include <typeinfo>

namespace tg::data {
namespace {

// (C, H, W) of a [C, H, W] or [H, W] sample, checked.
struct Chw {
  int64_t c, h, w;
};
Chw chw_of(const Shape& s, const char* op) {
  TG_CHECK(s.size() == 2 || s.size() == 3, op, ": expected an image of shape [C,H,W] or [H,W], got ", s);
  if (s.size() == 2) return {1, s[0], s[1]};
  return {s[0], s[1], s[2]};
}

std::vector<float>& scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

Tensor float_copy(const Tensor& x, const char* op) {
  TG_CHECK(x.defined(), op, ": the input tensor is undefined");
  TG_CHECK(x.dtype() == kFloat32, op, ": expected a float32 tensor, got ", x.dtype());
  const Tensor c = x.is_contiguous() ? x : x.contiguous();
  Tensor y = empty(x.shape());
  if (x.numel()) std::memcpy(y.data_ptr<float>(), c.data_ptr<float>(), size_t(x.numel()) * sizeof(float));
  return y;
}

// ---- the random draws, shared by the transforms and the fused Compose run ----

struct Shift {
  int64_t dx, dy;
};
Shift draw_shift(int64_t max_shift, Generator& gen) {
  const int64_t dx = gen.randint(-max_shift, max_shift + 1);
  const int64_t dy = gen.randint(-max_shift, max_shift + 1);
  return {dx, dy};
}

double draw_angle(double degrees, Generator& gen) { return (2.0 * gen.next_double() - 1.0) * degrees; }

struct Rect {
  int64_t top = 0, left = 0, h = 0, w = 0;  // h == 0: nothing to erase
};
// As torchvision.transforms.RandomErasing: up to 10 tries for a rectangle that fits.
Rect draw_erase(const RandomErasing& t, int64_t h, int64_t w, Generator& gen) {
  const RandomErasingOptions& o = t.options();
  if (gen.next_double() >= o.p) return {};
  const double area = double(h * w);
  const double lr0 = t.log_ratio()[0], lr1 = t.log_ratio()[1];
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (o.scale[0] + (o.scale[1] - o.scale[0]) * gen.next_double());
    const double aspect = std::exp(lr0 + (lr1 - lr0) * gen.next_double());
    // compared before converting: a huge ratio (1e40) overflowed lround's long
    const double fh = std::round(std::sqrt(target * aspect)), fw = std::round(std::sqrt(target / aspect));
    if (!(fh < double(h) && fw < double(w))) continue;
    const int64_t eh = int64_t(fh), ew = int64_t(fw);
    const int64_t top = gen.randint(0, h - eh + 1);
    const int64_t left = gen.randint(0, w - ew + 1);
    return {top, left, eh, ew};
  }
  return {};
}

// Normalize's check that its means/stds fit a c-channel sample, and the value of channel ch.
void check_norm_channels(const std::vector<float>& mean, int64_t c, const Shape& shape) {
  TG_CHECK(mean.size() == 1 || (shape.size() == 3 && int64_t(mean.size()) == c), "Normalize: ", mean.size(),
           " means/stds need a sample [C, H, W] with C = ", mean.size(), ", got shape ", shape,
           shape.size() == 4 ? " (a batch? transforms apply to one sample)" : "");
}
// The bilinear warp indexes a padded channel with int32 lanes: at most 2^31 - 1 pixels.
void check_warp_size(int64_t h, int64_t w, const char* op) {
  constexpr int64_t P = kernels::kWarpPad;
  TG_CHECK((h + 2 * P) * (w + 2 * P) < (int64_t(1) << 31), op, ": a ", h, " x ", w,
           " image is too large for the bilinear warp (at most 2^31 padded pixels per channel)");
}
float channel_value(const std::vector<float>& v, int64_t ch) { return v[v.size() == 1 ? 0 : size_t(ch)]; }

// The sampling rows of a rotation by `degrees` about the centre (see rotate_inplace).
struct RotationRows {
  float cs, sn;
};
RotationRows rotation_rows(double degrees, int64_t h, int64_t w, float* row_x, float* row_y) {
  const double rad = degrees * std::numbers::pi / 180.0;
  const float cs = float(std::cos(rad)), sn = float(std::sin(rad));
  const float cx = float(w - 1) * 0.5f, cy = float(h - 1) * 0.5f;
  const float x0 = cx - cs * cx, y0 = cy - sn * cx;
  auto rows = [&]<class I>(I n) {
    for (I r = 0; r < n; ++r) {
      const float v = float(r) - cy;
      row_x[r] = x0 - sn * v;  // sx at column 0
      row_y[r] = y0 + cs * v;
    }
  };
  // an int32 row index where it fits: its conversion to float vectorizes on
  // the baseline target (int64's needs AVX-512DQ), and so does the loop
  if (h <= INT32_MAX)
    rows(int32_t(h));
  else
    rows(h);
  return {cs, sn};
}

}  // namespace

Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index) {
  const uint64_t key = mix64(seed ^ mix64(uint64_t(epoch) ^ 0x7472616E73666D73ULL /* "transfms" */));
  Generator g(key);
  g.set_state(key, uint64_t(index) << 32);
  return g;
}

void Transform::apply_bytes(const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const {
  kernels::u8_to_unit_float(bytes, x, shape.numel());
  apply(x, shape, gen);
}

Tensor Transform::operator()(const Tensor& x, Generator& gen) const {
  Tensor y = float_copy(x, "Transform");
  apply(y.data_ptr<float>(), y.shape(), gen);
  return y;
}

// ---- primitives ----

// out(y, x) = in(y - dy, x - dx), `fill` where that falls outside
void translate_inplace(float* x, int64_t c, int64_t h, int64_t w, int64_t dx, int64_t dy, float fill) {
  if (dx == 0 && dy == 0) return;
  // A shift of the image's size or more leaves none of it: clamped there (as
  // kernels::pad_shifted does), so no index arithmetic can overflow.
  dx = std::clamp(dx, -w, w);
  dy = std::clamp(dy, -h, h);
  for (int64_t ch = 0; ch < c; ++ch) {
    float* img = x + ch * h * w;
    // rows move by dy: walk so that a source row is read before it is overwritten
    const int64_t step = dy > 0 ? -1 : 1;
    for (int64_t r = dy > 0 ? h - 1 : 0; r >= 0 && r < h; r += step) {
      kernels::shifted_row(img + r * w, img, r - dy, h, w, dx, fill);
    }
  }
}

// Inverse mapping about the centre (cx, cy): for output (u, v) = (x - cx, y - cy),
//   sx = cos*u - sin*v + cx,  sy = sin*u + cos*v + cy   (counter-clockwise on screen)
// Bilinear reads a copy padded with `fill` (kernels::warp_bilinear), so samples
// near the edge blend into the fill instead of being cut off.
void rotate_inplace(float* x, int64_t c, int64_t h, int64_t w, double degrees, Interpolation interp, float fill) {
  TG_CHECK(std::isfinite(degrees), "rotate: the angle must be finite, got ", degrees, " degrees");
  if (degrees == 0.0) return;
  constexpr int64_t P = kernels::kWarpPad;
  const int64_t pw = w + 2 * P, ph = h + 2 * P;
  if (interp == Interpolation::Bilinear) check_warp_size(h, w, "rotate");
  // scratch: padded source | output | row_x | row_y
  std::vector<float>& buf = scratch(size_t(ph * pw + h * w + 2 * h));
  float* pad = buf.data();
  float* out = pad + ph * pw;
  float* row_x = out + h * w;
  float* row_y = row_x + h;
  const auto [cs, sn] = rotation_rows(degrees, h, w, row_x, row_y);
  for (int64_t ch = 0; ch < c; ++ch) {
    float* img = x + ch * h * w;
    if (interp == Interpolation::Bilinear) {
      std::fill(pad, pad + ph * pw, fill);
      for (int64_t r = 0; r < h; ++r) std::memcpy(pad + (r + P) * pw + P, img + r * w, size_t(w) * sizeof(float));
      kernels::warp_bilinear(pad, pw, row_x, row_y, cs, sn, img, h, w);
      continue;
    }
    std::memcpy(out, img, size_t(h * w) * sizeof(float));
    for (int64_t r = 0; r < h; ++r) {
      for (int64_t q = 0; q < w; ++q) {
        const float ax = std::floor(row_x[r] + float(q) * cs + 0.5f);
        const float ay = std::floor(row_y[r] + float(q) * sn + 0.5f);
        const bool inside = ax >= 0.0f && ax < float(w) && ay >= 0.0f && ay < float(h);
        img[r * w + q] = inside ? out[int64_t(ay) * w + int64_t(ax)] : fill;
      }
    }
  }
}

void erase_inplace(float* x, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left, int64_t eh, int64_t ew,
                   float value) {
  const int64_t r0 = std::max<int64_t>(top, 0), r1 = std::min(top + eh, h);
  const int64_t q0 = std::max<int64_t>(left, 0), q1 = std::min(left + ew, w);
  if (r0 >= r1 || q0 >= q1) return;
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t r = r0; r < r1; ++r) std::fill(x + (ch * h + r) * w + q0, x + (ch * h + r) * w + q1, value);
}

Tensor translate(const Tensor& x, int64_t dx, int64_t dy, float fill) {
  Tensor y = float_copy(x, "translate");
  const Chw s = chw_of(y.shape(), "translate");
  translate_inplace(y.data_ptr<float>(), s.c, s.h, s.w, dx, dy, fill);
  return y;
}

Tensor rotate(const Tensor& x, double degrees, Interpolation interp, float fill) {
  Tensor y = float_copy(x, "rotate");
  const Chw s = chw_of(y.shape(), "rotate");
  rotate_inplace(y.data_ptr<float>(), s.c, s.h, s.w, degrees, interp, fill);
  return y;
}

Tensor erase(const Tensor& x, int64_t top, int64_t left, int64_t height, int64_t width, float value) {
  Tensor y = float_copy(x, "erase");
  const Chw s = chw_of(y.shape(), "erase");
  erase_inplace(y.data_ptr<float>(), s.c, s.h, s.w, top, left, height, width, value);
  return y;
}

// ---- Normalize ----

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  TG_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: mean and std need the same, non-zero length, got ",
           mean_.size(), " and ", std_.size());
  for (size_t k = 0; k < std_.size(); ++k)
    TG_CHECK(std_[k] != 0.0f && std::isfinite(std_[k]), "Normalize: std[", k, "] = ", std_[k],
             " must be finite and non-zero");
}

// x[c] = (x[c] - mean[c]) / std[c]
void Normalize::apply(float* x, const Shape& shape, Generator&) const {
  TG_CHECK(shape.size() >= 1, "Normalize: expected a sample with a channel dim, got shape ", shape);
  const int64_t c = shape.size() == 3 ? shape[0] : 1;
  const int64_t per = shape.numel() / std::max<int64_t>(c, 1);
  check_norm_channels(mean_, c, shape);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float m = channel_value(mean_, ch), s = channel_value(std_, ch);
    float* p = x + ch * per;
    for (int64_t k = 0; k < per; ++k) p[k] = (p[k] - m) / s;
  }
}

// ---- RandomTranslation ----

RandomTranslation::RandomTranslation(int64_t max_shift, float fill) : max_shift_(max_shift), fill_(fill) {
  TG_CHECK(max_shift >= 0 && max_shift <= (int64_t(1) << 40), "RandomTranslation: max_shift must be in [0, 2^40], got ",
           max_shift);
}

void RandomTranslation::apply(float* x, const Shape& shape, Generator& gen) const {
  const Chw s = chw_of(shape, "RandomTranslation");
  const Shift d = draw_shift(max_shift_, gen);
  translate_inplace(x, s.c, s.h, s.w, d.dx, d.dy, fill_);
}

// ---- RandomRotation ----

RandomRotation::RandomRotation(double degrees, Interpolation interp, float fill)
    : degrees_(degrees), interp_(interp), fill_(fill) {
  TG_CHECK(degrees >= 0.0 && degrees <= 180.0, "RandomRotation: degrees must be in [0, 180], got ", degrees);
}

void RandomRotation::apply(float* x, const Shape& shape, Generator& gen) const {
  const Chw s = chw_of(shape, "RandomRotation");
  rotate_inplace(x, s.c, s.h, s.w, draw_angle(degrees_, gen), interp_, fill_);
}

// ---- RandomErasing ----

RandomErasing::RandomErasing(RandomErasingOptions o) : o_(o) {
  TG_CHECK(o.p >= 0.0 && o.p <= 1.0, "RandomErasing: p must be in [0, 1], got ", o.p);
  TG_CHECK(o.scale[0] > 0.0 && o.scale[0] <= o.scale[1] && o.scale[1] <= 1.0,
           "RandomErasing: scale must satisfy 0 < scale[0] <= scale[1] <= 1, got {", o.scale[0], ", ", o.scale[1], "}");
  TG_CHECK(o.ratio[0] > 0.0 && o.ratio[0] <= o.ratio[1] && std::isfinite(o.ratio[1]),
           "RandomErasing: ratio must satisfy 0 < ratio[0] <= ratio[1] < inf, got {", o.ratio[0], ", ", o.ratio[1], "}");
  log_ratio_ = {std::log(o.ratio[0]), std::log(o.ratio[1])};  // once, not per example
}

void RandomErasing::apply(float* x, const Shape& shape, Generator& gen) const {
  const Chw s = chw_of(shape, "RandomErasing");
  const Rect e = draw_erase(*this, s.h, s.w, gen);
  if (e.h > 0) erase_inplace(x, s.c, s.h, s.w, e.top, e.left, e.h, e.w, o_.value);
}

// ---- Compose, Lambda ----

// The plan: runs of [RandomTranslation] RandomRotation(bilinear)
// [RandomErasing] [Normalize] become one fused step, anything else a step of
// its own.
// A transform of exactly type T (not a subclass: a user's class derived from
// Normalize has its own apply(), which the fused step would skip).
template <class T>
const T* exactly(const Transform* t) {
  return t && typeid(*t) == typeid(T) ? static_cast<const T*>(t) : nullptr;
}

Compose::Compose(std::vector<TransformPtr> transforms) : ts_(std::move(transforms)) {
  for (size_t k = 0; k < ts_.size(); ++k) TG_CHECK(ts_[k] != nullptr, "Compose: transform ", k, " is null");
  auto bilinear = [&](size_t k) -> const RandomRotation* {
    if (k >= ts_.size()) return nullptr;
    const auto* r = exactly<RandomRotation>(ts_[k].get());
    return r && r->interpolation() == Interpolation::Bilinear ? r : nullptr;
  };
  for (size_t k = 0; k < ts_.size();) {
    Step st;
    st.first = k;
    size_t j = k;
    if (const auto* t = exactly<RandomTranslation>(ts_[j].get()); t && bilinear(j + 1)) {
      st.translation = t;
      ++j;
    }
    if ((st.rotation = bilinear(j)) != nullptr) {
      ++j;
      if (j < ts_.size() && (st.erasing = exactly<RandomErasing>(ts_[j].get())) != nullptr) ++j;
      if (j < ts_.size() && (st.normalize = exactly<Normalize>(ts_[j].get())) != nullptr) ++j;
      st.count = j - k;
    }
    plan_.push_back(st);
    k += st.count;
  }
}

void Compose::apply(float* x, const Shape& shape, Generator& gen) const { run_plan(0, x, shape, gen); }

// Steps plan_[first, end) on x, each fused run in one pass.
void Compose::run_plan(size_t first, float* x, const Shape& shape, Generator& gen) const {
  for (size_t k = first; k < plan_.size(); ++k) {
    const Step& st = plan_[k];
    if (st.rotation)
      run_fused(st, nullptr, x, shape, gen);
    else
      ts_[st.first]->apply(x, shape, gen);
  }
}

// A first fused step reads the bytes itself; anything else sees them
// converted. So does a user's class derived from Compose: its own apply() may
// do more than the plan.
void Compose::apply_bytes(const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const {
  if (plan_.empty() || !plan_[0].rotation || typeid(*this) != typeid(Compose)) {
    Transform::apply_bytes(bytes, x, shape, gen);
    return;
  }
  run_fused(plan_[0], bytes, x, shape, gen);
  run_plan(1, x, shape, gen);
}

// A fused step: the draws of translation, rotation and erasing in their
// order, then per channel one pass that builds the shifted, padded source and
// one warp that writes the rotated (and normalized) channel; erasing comes
// last with its value normalized. Normalize is elementwise and erasing writes
// a constant, so normalize(erase(v)) = erase(normalize(v)) bit for bit, and
// the whole step gives the bits of the transforms one by one. From bytes, the
// padded source is built from them (pad_shifted_bytes: the bits of converting
// first), or, with no rotation to do, they are converted into x first.
void Compose::run_fused(const Step& st, const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const {
  const Chw s = chw_of(shape, st.translation ? "RandomTranslation" : "RandomRotation");
  const Shift shift = st.translation ? draw_shift(st.translation->max_shift(), gen) : Shift{0, 0};
  const double angle = draw_angle(st.rotation->degrees(), gen);
  const Rect e = st.erasing ? draw_erase(*st.erasing, s.h, s.w, gen) : Rect{};
  if (st.normalize) check_norm_channels(st.normalize->mean(), s.c, shape);
  const float tfill = st.translation ? st.translation->fill() : 0.0f;
  const float rfill = st.rotation->fill();
  const int64_t h = s.h, w = s.w;
  constexpr int64_t P = kernels::kWarpPad;
  const int64_t pw = w + 2 * P, ph = h + 2 * P;
  float* pad = nullptr;
  float *row_x = nullptr, *row_y = nullptr;
  RotationRows rot{1.0f, 0.0f};
  if (angle != 0.0) {
    check_warp_size(h, w, "RandomRotation");
    std::vector<float>& buf = scratch(size_t(ph * pw + 2 * h));
    pad = buf.data();
    row_x = pad + ph * pw;
    row_y = row_x + h;
    rot = rotation_rows(angle, h, w, row_x, row_y);
  }
  if (bytes && angle == 0.0) {
    kernels::u8_to_unit_float(bytes, x, s.c * h * w);
    bytes = nullptr;
  }
  for (int64_t ch = 0; ch < s.c; ++ch) {
    float* img = x + ch * h * w;
    float m = 0.0f, sd = 1.0f;
    if (st.normalize) m = channel_value(st.normalize->mean(), ch), sd = channel_value(st.normalize->std(), ch);
    if (angle == 0.0) {  // rotate_inplace's identity
      translate_inplace(img, 1, h, w, shift.dx, shift.dy, tfill);
      if (st.normalize)
        for (int64_t k = 0; k < h * w; ++k) img[k] = (img[k] - m) / sd;
    } else {
      if (bytes)
        kernels::pad_shifted_bytes(bytes + ch * h * w, h, w, shift.dx, shift.dy, tfill, rfill, pad);
      else
        kernels::pad_shifted(img, h, w, shift.dx, shift.dy, tfill, rfill, pad);
      if (st.normalize)
        kernels::warp_bilinear_normalize(pad, pw, row_x, row_y, rot.cs, rot.sn, img, h, w, m, sd);
      else
        kernels::warp_bilinear(pad, pw, row_x, row_y, rot.cs, rot.sn, img, h, w);
    }
    if (e.h > 0) {
      const float v = st.erasing->options().value;
      erase_inplace(img, 1, h, w, e.top, e.left, e.h, e.w, st.normalize ? (v - m) / sd : v);
    }
  }

}

Lambda::Lambda(Fn fn) : fn_(std::move(fn)) { TG_CHECK(fn_ != nullptr, "Lambda: the function is empty"); }

void Lambda::apply(float* x, const Shape& shape, Generator& gen) const {
  Tensor in = empty(shape);
  if (shape.numel()) std::memcpy(in.data_ptr<float>(), x, size_t(shape.numel()) * sizeof(float));
  Tensor out = fn_(in, gen);
  TG_CHECK(out.defined() && out.dtype() == kFloat32 && out.shape() == shape,
           "Lambda: the function must return a float32 tensor of the input's shape ", shape, ", got ",
           (out.defined() ? std::string(dtype_name(out.dtype())) + " " + to_string(out.shape())
                          : std::string("an undefined tensor")));
  const Tensor c = out.is_contiguous() ? out : out.contiguous();
  if (shape.numel()) std::memcpy(x, c.data_ptr<float>(), size_t(shape.numel()) * sizeof(float));
}

}  // namespace tg::data
