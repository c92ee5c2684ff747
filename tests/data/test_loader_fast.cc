// The loader's fast warp paths against the scalar twins, bit for bit, on
// every compiled target: whole two-register rows (28-wide images on AVX-512:
// band rows computed a vector of output rows at a time, walks unrolled per
// band size) and the narrower rows next to them, over every band size the
// unrolled walks cover and past them, image heights around the 32-row blocks
// and the 16-row vectors of the band setup, and rows clamped into the border.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "data/warp.h"
#include "tensor/random.h"
#include "tests/common/test_util.h"

using namespace tg::data;
using tgtest::for_each_target;

namespace {

// Sampling rows of a rotation by `deg` about the centre, moved by (sx, sy).
void rotation_rows(double deg, int64_t h, int64_t w, float sx, float sy, std::vector<float>& rx,
                   std::vector<float>& ry, float& cs, float& sn) {
  cs = float(std::cos(deg * M_PI / 180)), sn = float(std::sin(deg * M_PI / 180));
  const float cx = float(w - 1) * 0.5f, cy = float(h - 1) * 0.5f;
  for (int64_t r = 0; r < h; ++r) {
    const float v = float(r) - cy;
    rx[size_t(r)] = cx - cs * cx - sn * v + sx;
    ry[size_t(r)] = cy - sn * cx + cs * v + sy;
  }
}

}  // namespace

TEST_CASE("loader fast path: 28-wide warps match their scalar twins at every band size, on every target") {
  using namespace tg::data::kernels;
  int checked_targets = 0;
  for_each_target([&](const std::string& target) {
    CAPTURE(target);
    ++checked_targets;
    // heights: below one vector of rows, around 16 and the 32-row blocks, tall
    for (int64_t h : {int64_t(1), int64_t(2), int64_t(5), int64_t(15), int64_t(16), int64_t(17), int64_t(28),
                      int64_t(31), int64_t(32), int64_t(33), int64_t(47), int64_t(70)}) {
      for (int64_t w : {int64_t(28), int64_t(27), int64_t(13)}) {
        const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
        // exactly pw * ph and h floats: nothing may be read past them
        std::vector<float> pad(static_cast<size_t>(pw * ph)), rx(static_cast<size_t>(h)),
            ry(static_cast<size_t>(h));
        tg::Generator g(uint64_t(h * 131 + w));
        for (float& v : pad) v = float(g.next_double()) - 0.25f;
        // 0 to 40 degrees both ways in steps of 0.7: bands of 2 to ~20 rows,
        // every unrolled size and the plain loop past them; and large angles
        std::vector<double> angles;
        for (double a = 0.0; a <= 40.0; a += 0.7) angles.insert(angles.end(), {a, -a});
        for (double a : {89.0, 90.0, 135.0, 180.0, -179.5}) angles.push_back(a);
        for (double deg : angles) {
          // on-grid, off-grid, and moved so far that rows clamp into the border
          for (auto [sx, sy] : std::vector<std::pair<float, float>>{{0.0f, 0.0f}, {0.3f, -0.6f}, {-2.5f, 40.0f},
                                                                    {35.0f, -90.0f}}) {
            float cs, sn;
            rotation_rows(deg, h, w, sx, sy, rx, ry, cs, sn);
            const size_t n = static_cast<size_t>(h * w);
            constexpr float kSentinel = -321.0f;
            std::vector<float> a(n + 40, kSentinel), b(n + 40, kSentinel);
            warp_bilinear_normalize(pad.data(), pw, rx.data(), ry.data(), cs, sn, a.data(), h, w, 0.286f, 0.353f);
            warp_bilinear_normalize_ref(pad.data(), pw, rx.data(), ry.data(), cs, sn, b.data(), h, w, 0.286f,
                                        0.353f);
            REQUIRE_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "normalize h=", h,
                            " w=", w, " deg=", deg, " sx=", sx, " sy=", sy);
            std::fill(a.begin(), a.end(), kSentinel);
            std::fill(b.begin(), b.end(), kSentinel);
            warp_bilinear(pad.data(), pw, rx.data(), ry.data(), cs, sn, a.data(), h, w);
            warp_bilinear_ref(pad.data(), pw, rx.data(), ry.data(), cs, sn, b.data(), h, w);
            REQUIRE_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "h=", h, " w=", w,
                            " deg=", deg, " sx=", sx, " sy=", sy);
            for (size_t k = n; k < a.size(); ++k) REQUIRE(a[k] == kSentinel);
          }
        }
      }
    }
  });
  CHECK(checked_targets >= 1);
}
