// The 2x2 stride-2 max-pool row kernel (tensor/kernels/pool.h) against its
// scalar twin on every compiled Highway target: float32 and float64, lengths
// 0..67, input rows misaligned by 0..3 elements, values drawn from a small set
// so that ties are common, and NaNs sprinkled in (the last NaN of a window
// wins). Sentinels after the outputs check that nothing writes past n; the
// input rows are exactly 2n long heap buffers, so ASan catches a read past
// them. A hand-made window pins the twin itself to the rule.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tensor/kernels/pool.h"
#include "tests/common/test_util.h"

namespace k = tg::kernels;

namespace {

template <class T, class I>
void check_all_targets() {
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return uint32_t(state >> 33);
  };
  const T nan = std::numeric_limits<T>::quiet_NaN();
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t n = 0; n <= 67; ++n)
      for (int mis = 0; mis < 4; ++mis) {
        // exact-size heap rows (offset by mis elements) so ASan sees over-reads
        std::unique_ptr<T[]> b0(new T[size_t(2 * n + mis)]), b1(new T[size_t(2 * n + mis)]);
        T* r0 = b0.get() + mis;
        T* r1 = b1.get() + mis;
        for (int64_t i = 0; i < 2 * n; ++i) {
          const uint32_t u0 = next(), u1 = next();
          r0[i] = u0 % 17 == 0 ? nan : T(int(u0 % 5) - 2) * T(0.5);
          r1[i] = u1 % 17 == 0 ? nan : T(int(u1 % 5) - 2) * T(0.5);
          if (u0 % 23 == 0) r0[i] = -nan;  // a NaN with the sign bit set
        }
        std::vector<T> y(size_t(n) + 1, T(99)), yr(size_t(n) + 1, T(99));
        std::vector<I> c(size_t(n) + 1, I(77)), cr(size_t(n) + 1, I(77));
        k::max_pool2x2_row(r0, r1, n, y.data(), c.data());
        k::max_pool2x2_row_ref(r0, r1, n, yr.data(), cr.data());
        for (int64_t i = 0; i < n; ++i) {
          INFO(target, " n=", n, " mis=", mis, " i=", i);
          REQUIRE(c[size_t(i)] == cr[size_t(i)]);
          REQUIRE(std::memcmp(&y[size_t(i)], &yr[size_t(i)], sizeof(T)) == 0);
        }
        REQUIRE(y[size_t(n)] == T(99));
        REQUIRE(c[size_t(n)] == I(77));
        ++checked;
      }
  });
  CHECK(checked >= 68 * 4);
}

}  // namespace

TEST_CASE("pool kernel: the scalar twin follows the window rule") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // windows: (r0[0], r0[1], r1[0], r1[1]) for each output
  const float r0[] = {1, 3, 2, 2, 5, nan, 0, 0, nan, 1};
  const float r1[] = {3, 0, 2, 9, 1, nan, 0, 0, 2, nan};
  float y[5];
  int32_t c[5];
  k::max_pool2x2_row_ref(r0, r1, 5, y, c);
  CHECK(y[0] == 3.0f);  // r0[1] = 3 first, r1[0] = 3 ties and loses
  CHECK(c[0] == 1);
  CHECK(y[1] == 9.0f);
  CHECK(c[1] == 3);
  CHECK(std::isnan(y[2]));  // NaN beats 5; the later NaN (position 3) wins
  CHECK(c[2] == 3);
  CHECK(y[3] == 0.0f);  // all equal: the first
  CHECK(c[3] == 0);
  CHECK(std::isnan(y[4]));
  CHECK(c[4] == 3);
}

TEST_CASE("pool kernel: float32 equals its scalar twin on every target") {
  check_all_targets<float, int32_t>();
}

TEST_CASE("pool kernel: float64 equals its scalar twin on every target") {
  check_all_targets<double, int64_t>();
}
