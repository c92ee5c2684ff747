// The 2x2 stride-2 max-pool plane kernel (tensor/kernels/pool.h) against its
// scalar twin on every compiled Highway target: float32 and float64, output
// widths 0..37 (full vectors, masked and one-lane tails), 1..3 output rows,
// input rows of 2·OW and 2·OW + 1 elements (odd widths leave a column out),
// planes misaligned by 0..3 elements, values drawn from a small set so that
// ties are common, and NaNs sprinkled in (the last NaN of a window wins). The
// plane is an exact-size heap buffer, so ASan catches a read past it;
// sentinels after y and argmax check that nothing writes past OH·OW; a null
// argmax must give the same y. A hand-made plane pins the twin to the rule.
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

template <class T>
void check_all_targets() {
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return uint32_t(state >> 33);
  };
  const T nan = std::numeric_limits<T>::quiet_NaN();
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t OW = 0; OW <= 37; ++OW)
      for (int64_t OH = 1; OH <= 3; ++OH)
        for (int64_t extra = 0; extra <= 1; ++extra)
          for (int mis = 0; mis < 4; ++mis) {
            const int64_t W = 2 * OW + extra, H = 2 * OH, n = H * W;
            // exact-size heap plane (offset by mis elements) so ASan sees over-reads
            std::unique_ptr<T[]> buf(new T[size_t(n + mis)]);
            T* x = buf.get() + mis;
            for (int64_t i = 0; i < n; ++i) {
              const uint32_t u = next();
              x[i] = u % 17 == 0 ? nan : T(int(u % 5) - 2) * T(0.5);
              if (u % 23 == 0) x[i] = -nan;  // a NaN with the sign bit set
            }
            const size_t out = size_t(OH * OW);
            std::vector<T> y(out + 1, T(99)), yr(out + 1, T(99)), yn(out + 1, T(99));
            std::vector<int64_t> a(out + 1, 77), ar(out + 1, 77);
            k::max_pool2x2_plane(x, W, OH, OW, y.data(), a.data());
            k::max_pool2x2_plane_ref(x, W, OH, OW, yr.data(), ar.data());
            k::max_pool2x2_plane(x, W, OH, OW, yn.data(), nullptr);
            INFO(target, " OW=", OW, " OH=", OH, " W=", W, " mis=", mis);
            REQUIRE(a == ar);
            REQUIRE(std::memcmp(y.data(), yr.data(), y.size() * sizeof(T)) == 0);  // sentinel included
            REQUIRE(std::memcmp(yn.data(), yr.data(), yn.size() * sizeof(T)) == 0);
            ++checked;
          }
  });
  CHECK(checked >= 38 * 3 * 2 * 4);
}

}  // namespace

TEST_CASE("pool kernel: the scalar twin follows the window rule") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // one output row of 5 windows: (x[0][2i], x[0][2i+1], x[1][2i], x[1][2i+1])
  const float x[] = {1, 3, 2, 2, 5, nan, 0, 0, nan, 1,   // row 0
                     3, 0, 2, 9, 1, nan, 0, 0, 2, nan};  // row 1 (W = 10)
  float y[5];
  int64_t a[5];
  k::max_pool2x2_plane_ref(x, 10, 1, 5, y, a);
  CHECK(y[0] == 3.0f);  // x[0][1] = 3 first, x[1][0] = 3 ties and loses
  CHECK(a[0] == 1);
  CHECK(y[1] == 9.0f);
  CHECK(a[1] == 13);  // row 1, column 3
  CHECK(std::isnan(y[2]));  // NaN beats 5; the later NaN (row 1, column 5) wins
  CHECK(a[2] == 15);
  CHECK(y[3] == 0.0f);  // all equal: the first
  CHECK(a[3] == 6);
  CHECK(std::isnan(y[4]));
  CHECK(a[4] == 19);
}

TEST_CASE("pool kernel: float32 equals its scalar twin on every target") { check_all_targets<float>(); }

TEST_CASE("pool kernel: float64 equals its scalar twin on every target") { check_all_targets<double>(); }
