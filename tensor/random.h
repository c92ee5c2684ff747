// Random numbers: counter-based Philox4x32-10 streams.
//
// A Generator is (seed, offset). A call that fills n elements reserves the
// counters [offset, offset+n) and element i is a pure function of
// (seed, offset+i), so results never depend on how many threads filled the
// tensor or in which order. Saving (seed, offset) saves the whole state.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>

#include "tensor/tensor.h"

namespace tg {

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter);

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) : seed_(seed) {}
  // Copies take the state, not the default generator's atomic reserve: a copy
  // of it is an ordinary Generator, and assigning to it keeps it atomic.
  Generator(const Generator& o) : seed_(o.seed_), offset_(o.offset_) {}
  Generator& operator=(const Generator& o) {
    seed_ = o.seed_;
    offset_ = o.offset_;
    return *this;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserves n counters; returns the first. The default generator, shared by
  // every thread, reserves atomically (two threads drew the same numbers);
  // another Generator belongs to one thread at a time.
  uint64_t reserve(uint64_t n) {
    if (shared_) return std::atomic_ref<uint64_t>(offset_).fetch_add(n, std::memory_order_relaxed);
    const uint64_t b = offset_;
    offset_ += n;
    return b;
  }
  // Sequential draws, one counter each.
  uint32_t next_u32() { return philox4x32(seed_, reserve(1))[0]; }
  uint64_t next_u64();
  double next_double();                  // uniform [0, 1) with 53 random bits
  int64_t randint(int64_t low, int64_t high);  // uniform integer in [low, high)

 private:
  uint64_t seed_;
  alignas(8) uint64_t offset_ = 0;
  bool shared_ = false;
  friend Generator& default_generator();
};

// SplitMix64's finalizer: derives independent seeds from (seed, stream id).
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Generator& default_generator();
void manual_seed(uint64_t seed);

// Bits -> uniform values in [0, 1).
inline float uniform_float(uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }
inline double uniform_double(uint32_t hi, uint32_t lo) {
  return double(((uint64_t(hi) << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

Tensor rand(const Shape& shape, TensorOptions opts = {});
Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {});
Tensor randn(const Shape& shape, TensorOptions opts = {});
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {});
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, TensorOptions opts = {});
Tensor normal(const Shape& shape, double mean, double std, Generator& gen, TensorOptions opts = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen);
Tensor randint(int64_t low, int64_t high, const Shape& shape);
// 1 with probability p, else 0, in opts.dtype.
Tensor bernoulli(const Shape& shape, double p, Generator& gen, TensorOptions opts = {});
Tensor randperm(int64_t n, Generator& gen);  // int64 permutation of 0..n-1

// In-place fills (used by nn::init): uniform [low, high) and normal(mean, std).
void uniform_(Tensor& t, double low, double high, Generator& gen);
void normal_(Tensor& t, double mean, double std, Generator& gen);

}  // namespace tg
