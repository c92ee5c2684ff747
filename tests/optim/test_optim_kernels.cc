// The fused optimizer kernels (tensor/kernels/optim.h) against their scalar
// twins on every compiled Highway target: float32 and float64, lengths 0..67,
// pointers misaligned by 0..3 elements, every option combination, several
// steps in a row. The SIMD code uses no FMA, so the comparison is bit-exact.
// Sentinels after the span check that nothing writes past n. A few hand-derived
// single steps pin the twins themselves to the torch.optim formulas.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/kernels/optim.h"
#include "tests/common/test_util.h"

namespace k = tg::kernels;

namespace {

// Deterministic values in [lo, hi).
struct Lcg {
  uint64_t s;
  double next(double lo, double hi) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * double(s >> 11) * (1.0 / 9007199254740992.0);
  }
};

constexpr int kMaxLen = 67;
constexpr int kPad = 8;          // sentinel elements after the span
constexpr double kSentinel = 12345.0;

// One operand buffer: `off` elements of slack in front (misalignment), then n
// values, then kPad sentinels.
template <class T>
struct Buf {
  std::vector<T> storage;
  T* ptr;
  int n;
  Buf(int n_, int off, Lcg& rng, double lo, double hi) : storage(n_ + off + kPad), n(n_) {
    ptr = storage.data() + off;
    for (int i = 0; i < n; ++i) ptr[i] = T(rng.next(lo, hi));
    for (int i = 0; i < kPad; ++i) ptr[n + i] = T(kSentinel);
  }
  bool sentinels_intact() const {
    for (int i = 0; i < kPad; ++i)
      if (ptr[n + i] != T(kSentinel)) return false;
    return true;
  }
};

template <class T>
bool bit_equal(const T* a, const T* b, int n) {
  return std::memcmp(a, b, sizeof(T) * n) == 0;
}

// Five operands (param, grad, three states), SIMD copy and twin copy, `steps`
// updates with a fresh gradient each step; compares all outputs bit for bit.
// `run(simd, p, g, s0, s1, s2, n, step)` performs one update.
template <class T, class Run>
void check_against_twin(const char* target, const std::string& label, const Run& run, int steps,
                        double state_lo, double state_hi) {
  for (int n = 0; n <= kMaxLen; ++n) {
    for (int off = 0; off < 4; ++off) {
      Lcg rng{uint64_t(n * 131 + off * 7 + 1)};
      Buf<T> p(n, off, rng, -2, 2), g(n, off, rng, -3, 3);
      Buf<T> s0(n, off, rng, state_lo, state_hi), s1(n, off, rng, state_lo, state_hi),
          s2(n, off, rng, state_lo, state_hi);
      // s1 feeds a centered sqrt(s0 - s1²) in RMSprop: keep it small.
      for (int i = 0; i < n; ++i) s1.ptr[i] = T(s1.ptr[i] * 0.1);
      Buf<T> rp = p, rs0 = s0, rs1 = s1, rs2 = s2;
      rp.ptr = rp.storage.data() + off;
      rs0.ptr = rs0.storage.data() + off;
      rs1.ptr = rs1.storage.data() + off;
      rs2.ptr = rs2.storage.data() + off;
      for (int step = 1; step <= steps; ++step) {
        for (int i = 0; i < n; ++i) g.ptr[i] = T(rng.next(-3, 3));
        run(true, p.ptr, g.ptr, s0.ptr, s1.ptr, s2.ptr, n, step);
        run(false, rp.ptr, g.ptr, rs0.ptr, rs1.ptr, rs2.ptr, n, step);
      }
      INFO(std::string(target), " ", label, " n=", n, " offset=", off, " sizeof(T)=", sizeof(T));
      CHECK(bit_equal(p.ptr, rp.ptr, n));
      CHECK(bit_equal(s0.ptr, rs0.ptr, n));
      CHECK(bit_equal(s1.ptr, rs1.ptr, n));
      CHECK(bit_equal(s2.ptr, rs2.ptr, n));
      CHECK(p.sentinels_intact());
      CHECK(s0.sentinels_intact());
      CHECK(s1.sentinels_intact());
      CHECK(s2.sentinels_intact());
      bool finite = true;
      for (int i = 0; i < n; ++i) finite = finite && std::isfinite(double(p.ptr[i]));
      CHECK(finite);
    }
  }
}

template <class T>
void sgd_all_configs(const char* target) {
  for (double momentum : {0.0, 0.9})
    for (double dampening : {0.0, 0.1})
      for (double wd : {0.0, 0.01})
        for (bool nesterov : {false, true})
          for (bool maximize : {false, true}) {
            if (nesterov && (momentum == 0 || dampening != 0)) continue;
            k::SgdStepArgs a{.lr = 0.05, .momentum = momentum, .dampening = dampening,
                             .weight_decay = wd, .nesterov = nesterov, .maximize = maximize};
            auto run = [&](bool simd, T* p, const T* g, T* s0, T*, T*, int n, int step) {
              a.init_buffer = step == 1;
              if (simd) k::sgd_step(p, g, momentum != 0 ? s0 : nullptr, n, a);
              else k::sgd_step_ref(p, g, momentum != 0 ? s0 : nullptr, n, a);
            };
            check_against_twin<T>(target, "sgd", run, 3, -1, 1);
          }
}

template <class T>
void adam_all_configs(const char* target) {
  for (double wd : {0.0, 0.01})
    for (bool amsgrad : {false, true})
      for (bool maximize : {false, true})
        for (bool decoupled : {false, true}) {
          k::AdamStepArgs a{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                            .weight_decay = wd, .amsgrad = amsgrad, .maximize = maximize,
                            .decoupled = decoupled};
          auto run = [&](bool simd, T* p, const T* g, T* s0, T* s1, T* s2, int n, int step) {
            a.step = step;
            if (simd) k::adam_step(p, g, s0, s1, amsgrad ? s2 : nullptr, n, a);
            else k::adam_step_ref(p, g, s0, s1, amsgrad ? s2 : nullptr, n, a);
          };
          check_against_twin<T>(target, "adam", run, 3, 0, 1);
        }
}

template <class T>
void rmsprop_all_configs(const char* target) {
  for (double wd : {0.0, 0.01})
    for (double momentum : {0.0, 0.9})
      for (bool centered : {false, true})
        for (bool maximize : {false, true}) {
          k::RmspropStepArgs a{.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .weight_decay = wd,
                               .momentum = momentum, .centered = centered, .maximize = maximize};
          auto run = [&](bool simd, T* p, const T* g, T* s0, T* s1, T* s2, int n, int) {
            T* ga = centered ? s1 : nullptr;
            T* b = momentum > 0 ? s2 : nullptr;
            if (simd) k::rmsprop_step(p, g, s0, ga, b, n, a);
            else k::rmsprop_step_ref(p, g, s0, ga, b, n, a);
          };
          check_against_twin<T>(target, "rmsprop", run, 3, 0.5, 1);
        }
}

template <class T>
void adagrad_all_configs(const char* target) {
  for (double wd : {0.0, 0.01})
    for (double lr_decay : {0.0, 0.01})
      for (bool maximize : {false, true}) {
        k::AdagradStepArgs a{.lr = 0.1, .lr_decay = lr_decay, .weight_decay = wd, .eps = 1e-10,
                             .maximize = maximize};
        auto run = [&](bool simd, T* p, const T* g, T* s0, T*, T*, int n, int step) {
          a.step = step;
          if (simd) k::adagrad_step(p, g, s0, n, a);
          else k::adagrad_step_ref(p, g, s0, n, a);
        };
        check_against_twin<T>(target, "adagrad", run, 3, 0, 1);
      }
}

}  // namespace

TEST_CASE("optim kernels: SGD equals its scalar twin on every target") {
  tgtest::for_each_target([](const std::string& target) {
    const char* t = target.c_str();
    sgd_all_configs<float>(t);
    sgd_all_configs<double>(t);
  });
}

TEST_CASE("optim kernels: Adam/AdamW equal their scalar twin on every target") {
  tgtest::for_each_target([](const std::string& target) {
    const char* t = target.c_str();
    adam_all_configs<float>(t);
    adam_all_configs<double>(t);
  });
}

TEST_CASE("optim kernels: RMSprop equals its scalar twin on every target") {
  tgtest::for_each_target([](const std::string& target) {
    const char* t = target.c_str();
    rmsprop_all_configs<float>(t);
    rmsprop_all_configs<double>(t);
  });
}

TEST_CASE("optim kernels: Adagrad equals its scalar twin on every target") {
  tgtest::for_each_target([](const std::string& target) {
    const char* t = target.c_str();
    adagrad_all_configs<float>(t);
    adagrad_all_configs<double>(t);
  });
}

// Hand-derived single steps (float64) that pin the twins to the formulas.
TEST_CASE("optim kernels: hand-derived steps") {
  SUBCASE("sgd: plain, weight decay, momentum with dampening, nesterov") {
    double p = 1.0, g = 0.5, b = 0;
    k::sgd_step_ref(&p, &g, &b, 1, {.lr = 0.1, .weight_decay = 0.2});
    CHECK(p == doctest::Approx(1.0 - 0.1 * (0.5 + 0.2 * 1.0)).epsilon(1e-15));
    p = 1.0;
    b = 0;
    k::sgd_step_ref(&p, &g, &b, 1, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5, .init_buffer = true});
    CHECK(b == 0.5);  // first step: buffer = grad, no dampening
    CHECK(p == doctest::Approx(0.95).epsilon(1e-15));
    k::sgd_step_ref(&p, &g, &b, 1, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    CHECK(b == doctest::Approx(0.9 * 0.5 + 0.5 * 0.5).epsilon(1e-15));
    CHECK(p == doctest::Approx(0.95 - 0.1 * 0.7).epsilon(1e-15));
    p = 1.0;
    k::sgd_step_ref(&p, &g, &b, 1, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .init_buffer = true});
    CHECK(p == doctest::Approx(1.0 - 0.1 * (0.5 + 0.9 * 0.5)).epsilon(1e-15));
  }
  SUBCASE("adam: the first step moves by lr·sign(g)") {
    double p[2] = {1.0, -1.0}, g[2] = {0.3, -7.0}, m[2] = {0, 0}, v[2] = {0, 0};
    k::adam_step_ref(p, g, m, v, nullptr, 2, {.lr = 0.01, .eps = 0});
    CHECK(p[0] == doctest::Approx(0.99).epsilon(1e-14));
    CHECK(p[1] == doctest::Approx(-0.99).epsilon(1e-14));
    CHECK(m[0] == doctest::Approx(0.03).epsilon(1e-15));
    CHECK(v[1] == doctest::Approx(0.001 * 49).epsilon(1e-15));
  }
  SUBCASE("adamw: decoupled decay multiplies the parameter first") {
    double p = 2.0, g = 1.0, m = 0, v = 0;
    k::adam_step_ref(&p, &g, &m, &v, nullptr, 1, {.lr = 0.1, .eps = 0, .weight_decay = 0.5, .decoupled = true});
    CHECK(p == doctest::Approx(2.0 * (1 - 0.05) - 0.1).epsilon(1e-14));
  }
  SUBCASE("rmsprop and adagrad first steps") {
    double p = 1.0, g = 2.0, sq = 0;
    k::rmsprop_step_ref(&p, &g, &sq, nullptr, nullptr, 1, {.lr = 0.01, .alpha = 0.99, .eps = 0});
    CHECK(sq == doctest::Approx(0.04).epsilon(1e-14));
    CHECK(p == doctest::Approx(1.0 - 0.01 * 2.0 / 0.2).epsilon(1e-14));
    p = 1.0;
    double s = 0.1;
    k::adagrad_step_ref(&p, &g, &s, 1, {.lr = 0.1, .lr_decay = 0.5, .eps = 0, .step = 3});
    CHECK(s == doctest::Approx(4.1).epsilon(1e-15));
    CHECK(p == doctest::Approx(1.0 - (0.1 / 2.0) * 2.0 / std::sqrt(4.1)).epsilon(1e-14));
  }
}
