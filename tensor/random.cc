// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3")
// and the random factories built on it. Element i of a fill uses counter
// (offset + i), so the values never depend on the thread count.
#include "tensor/random.h"

#include <cmath>

#include "tensor/parallel.h"
#include "tensor/raw.h"

namespace tg {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0x9E3779B9u, c3 = 0x243F6A88u;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;  // hi0:lo0
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;  // hi1:lo1
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = uint32_t(p1);
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = uint32_t(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

uint64_t Generator::next_u64() {
  const auto r = philox4x32(seed_, reserve(1));
  return (uint64_t(r[0]) << 32) | r[1];
}
double Generator::next_double() {
  const auto r = philox4x32(seed_, reserve(1));
  return uniform_double(r[0], r[1]);
}
int64_t Generator::randint(int64_t low, int64_t high) {
  TG_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  // unsigned: high - low and low + q overflow int64 for ranges past 2^63
  const uint64_t range = uint64_t(high) - uint64_t(low);
  // Multiply-shift on 64 random bits: bias below 2^-40 for ranges < 2^24.
  const auto r = philox4x32(seed_, reserve(1));
  const uint64_t bits = (uint64_t(r[0]) << 32) | r[1];
  return int64_t(uint64_t(low) + uint64_t((static_cast<unsigned __int128>(bits) * range) >> 64));
}

Generator& default_generator() {
  static Generator g;
  static const bool shared = g.shared_ = true;  // reserve() atomically: every thread draws from it
  (void)shared;
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {

enum class Dist { Uniform, Normal, Bernoulli };

// Fills t (contiguous, fresh) element by element from counter (base + i).
Tensor fill_random(const Shape& shape, Generator& gen, TensorOptions opts, Dist dist, double a, double b) {
  TG_CHECK(is_floating(opts.dtype), "random: expected a floating-point dtype, got ", opts.dtype);
  Tensor t = empty(shape, {.dtype = opts.dtype});
  const int64_t n = t.numel();
  const uint64_t base = gen.reserve(uint64_t(n));
  const uint64_t seed = gen.seed();
  visit_float_dtype(opts.dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.raw_ptr<T>();
    parallel_for(0, n, 8192, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const auto r = philox4x32(seed, base + uint64_t(i));
        double u = std::is_same_v<T, float> ? double(uniform_float(r[0])) : uniform_double(r[0], r[1]);
        switch (dist) {
          case Dist::Uniform: p[i] = static_cast<T>(a + (b - a) * u); break;
          case Dist::Bernoulli: p[i] = u < a ? T(1) : T(0); break;
          case Dist::Normal: {
            // Box-Muller from two uniforms of the same counter block.
            const double u1 = 1.0 - uniform_double(r[0], r[1]);  // (0, 1]
            const double u2 = uniform_double(r[2], r[3]);
            const double z0 = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
            p[i] = static_cast<T>(a + b * z0);
            break;
          }
        }
      }
    });
  });
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

Tensor rand(const Shape& shape, TensorOptions opts) { return rand(shape, default_generator(), opts); }
Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts) {
  return fill_random(shape, gen, opts, Dist::Uniform, 0, 1);
}
Tensor randn(const Shape& shape, TensorOptions opts) { return randn(shape, default_generator(), opts); }
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts) {
  return fill_random(shape, gen, opts, Dist::Normal, 0, 1);
}
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, TensorOptions opts) {
  TG_CHECK(low <= high, "uniform: low ", low, " > high ", high);
  TG_CHECK(std::isfinite(high - low), "uniform: the range [", low, ", ", high, ") is not finite");
  return fill_random(shape, gen, opts, Dist::Uniform, low, high);
}
Tensor normal(const Shape& shape, double mean, double std, Generator& gen, TensorOptions opts) {
  TG_CHECK(std >= 0, "normal: std must be >= 0, got ", std);
  return fill_random(shape, gen, opts, Dist::Normal, mean, std);
}
Tensor bernoulli(const Shape& shape, double p, Generator& gen, TensorOptions opts) {
  TG_CHECK(p >= 0 && p <= 1, "bernoulli: p must be in [0, 1], got ", p);
  return fill_random(shape, gen, opts, Dist::Bernoulli, p, 0);
}
Tensor randint(int64_t low, int64_t high, const Shape& shape) { return randint(low, high, shape, default_generator()); }
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen) {
  TG_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor t = empty(shape, {.dtype = kInt64});
  const int64_t n = t.numel();
  const uint64_t base = gen.reserve(uint64_t(n));
  const uint64_t seed = gen.seed();
  const uint64_t range = uint64_t(high) - uint64_t(low);  // (as Generator::randint)
  int64_t* p = t.raw_ptr<int64_t>();
  parallel_for(0, n, 8192, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const auto r = philox4x32(seed, base + uint64_t(i));
      const uint64_t bits = (uint64_t(r[0]) << 32) | r[1];
      p[i] = int64_t(uint64_t(low) + uint64_t((static_cast<unsigned __int128>(bits) * range) >> 64));
    }
  });
  return t;
}
Tensor randperm(int64_t n, Generator& gen) {
  TG_CHECK(n >= 0, "randperm: n must be >= 0, got ", n);
  Tensor t = arange(0, double(n), 1, {.dtype = kInt64});
  int64_t* p = t.raw_ptr<int64_t>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen.randint(0, i + 1)]);  // Fisher-Yates
  return t;
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
  raw::copy_(t, uniform(t.shape(), low, high, gen, {.dtype = t.dtype()}));
}
void normal_(Tensor& t, double mean, double std, Generator& gen) {
  raw::copy_(t, normal(t.shape(), mean, std, gen, {.dtype = t.dtype()}));
}

}  // namespace tg
