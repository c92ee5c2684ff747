// Transforms: per-example float32 image transforms for augmentation and
// normalization, deterministic per (seed, epoch, example index).
//
// A Transform changes one example in place: apply(x, shape, gen) with x a
// contiguous float32 buffer of `shape` = [C, H, W] (or [H, W]). All randomness
// comes from `gen`; the DataLoader gives every example its own generator,
// sample_generator(seed, epoch, index), so results never depend on the thread
// count, the batch size or the order in which examples are processed.
// operator()(tensor, gen) is the tensor form (returns a transformed copy).
//
//   Normalize(mean, std)          x[c] = (x[c] - mean[c]) / std[c]
//   RandomTranslation(k, fill)    shift by (dx, dy) uniform integers in [-k, k]:
//                                 out(y, x) = in(y - dy, x - dx), fill outside
//                                 (= padding by k then a random crop)
//   RandomRotation(deg, interp)   angle uniform in [-deg, deg], counter-clockwise
//                                 on screen about the image centre ((W-1)/2, (H-1)/2),
//                                 bilinear or nearest, fill outside
//   RandomErasing({p, scale, ratio, value})
//                                 torchvision's RandomErasing: with probability p,
//                                 a rectangle of area in scale*H*W and aspect
//                                 ratio in `ratio` (log-uniform), up to 10 tries,
//                                 set to `value` in every channel
//   Compose({...})                in order, sharing one generator. A run of
//                                 [RandomTranslation] RandomRotation(bilinear)
//                                 [RandomErasing] [Normalize] is done in one warp
//                                 pass per channel (the same draws in the same
//                                 order and the same bits as one by one)
//   Lambda(fn)                    fn(const Tensor&, Generator&) -> Tensor of the same shape
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::data {

// The generator for example `index` in `epoch`: a Philox stream keyed by
// (seed, epoch) starting at counter index * 2^32.
Generator sample_generator(uint64_t seed, int64_t epoch, int64_t index);

class Transform {
 public:
  virtual ~Transform() = default;
  // x: contiguous float32 [C, H, W] or [H, W] (as `shape` says), changed in place.
  virtual void apply(float* x, const Shape& shape, Generator& gen) const = 0;
  // The same on the image whose values are bytes[k] / 255 (uint8 storage, as
  // MNIST's), written to x: the bits of converting (bytes_to_unit_float) then
  // apply(). The default does just that; Compose starting with a fused warp
  // step reads the bytes straight into the warp's padded source.
  virtual void apply_bytes(const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const;
  // A transformed copy of x (float32, any layout).
  Tensor operator()(const Tensor& x, Generator& gen) const;
};
using TransformPtr = std::shared_ptr<const Transform>;

class Normalize : public Transform {
 public:
  // One value each (applied to every channel) or one per channel.
  Normalize(std::vector<float> mean, std::vector<float> std);
  void apply(float* x, const Shape& shape, Generator& gen) const override;
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& std() const { return std_; }

 private:
  std::vector<float> mean_, std_;
};

class RandomTranslation : public Transform {
 public:
  explicit RandomTranslation(int64_t max_shift, float fill = 0.0f);
  void apply(float* x, const Shape& shape, Generator& gen) const override;
  int64_t max_shift() const { return max_shift_; }
  float fill() const { return fill_; }

 private:
  int64_t max_shift_;
  float fill_;
};

enum class Interpolation { Nearest, Bilinear };

class RandomRotation : public Transform {
 public:
  explicit RandomRotation(double degrees, Interpolation interp = Interpolation::Bilinear, float fill = 0.0f);
  void apply(float* x, const Shape& shape, Generator& gen) const override;
  double degrees() const { return degrees_; }
  Interpolation interpolation() const { return interp_; }
  float fill() const { return fill_; }

 private:
  double degrees_;
  Interpolation interp_;
  float fill_;
};

struct RandomErasingOptions {
  double p = 0.5;
  std::array<double, 2> scale = {0.02, 0.33};
  std::array<double, 2> ratio = {0.3, 3.3};
  float value = 0.0f;
};

class RandomErasing : public Transform {
 public:
  explicit RandomErasing(RandomErasingOptions options = {});
  void apply(float* x, const Shape& shape, Generator& gen) const override;
  const RandomErasingOptions& options() const { return o_; }
  // {log(ratio[0]), log(ratio[1])}, the range the aspect ratio is drawn from
  const std::array<double, 2>& log_ratio() const { return log_ratio_; }

 private:
  RandomErasingOptions o_;
  std::array<double, 2> log_ratio_;
};

class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  void apply(float* x, const Shape& shape, Generator& gen) const override;
  void apply_bytes(const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const override;
  const std::vector<TransformPtr>& transforms() const { return ts_; }

 private:
  // ts_[first, first + count) done as one step: a single transform, or a
  // fused warp run (the members it uses are set, the others null).
  struct Step {
    size_t first = 0, count = 1;
    const RandomTranslation* translation = nullptr;
    const RandomRotation* rotation = nullptr;
    const RandomErasing* erasing = nullptr;
    const Normalize* normalize = nullptr;
  };
  void run_plan(size_t first, float* x, const Shape& shape, Generator& gen) const;
  // One fused step on x, its source read from `bytes` (value byte / 255) when not null.
  void run_fused(const Step& st, const uint8_t* bytes, float* x, const Shape& shape, Generator& gen) const;
  std::vector<TransformPtr> ts_;
  std::vector<Step> plan_;
};

class Lambda : public Transform {
 public:
  using Fn = std::function<Tensor(const Tensor&, Generator&)>;
  explicit Lambda(Fn fn);
  void apply(float* x, const Shape& shape, Generator& gen) const override;

 private:
  Fn fn_;
};

// compose(RandomTranslation(2), RandomRotation(10), Normalize({0.286f}, {0.353f}))
template <class... Ts>
TransformPtr compose(Ts... ts) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{std::make_shared<Ts>(std::move(ts))...});
}

// ---- the deterministic primitives (also used by the random transforms) ----
// x: float32 [C, H, W] or [H, W]; results are new contiguous tensors.
Tensor translate(const Tensor& x, int64_t dx, int64_t dy, float fill = 0.0f);
Tensor rotate(const Tensor& x, double degrees, Interpolation interp = Interpolation::Bilinear, float fill = 0.0f);
Tensor erase(const Tensor& x, int64_t top, int64_t left, int64_t height, int64_t width, float value = 0.0f);

// Buffer forms: x [C, H, W] in place.
void translate_inplace(float* x, int64_t c, int64_t h, int64_t w, int64_t dx, int64_t dy, float fill);
void rotate_inplace(float* x, int64_t c, int64_t h, int64_t w, double degrees, Interpolation interp, float fill);
void erase_inplace(float* x, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left, int64_t eh, int64_t ew,
                   float value);

}  // namespace tg::data
