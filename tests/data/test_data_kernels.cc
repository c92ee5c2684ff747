// The data layer's Highway kernels against their scalar twins, bit for bit, on
// every compiled target this CPU supports: uint8 -> [0, 1] float conversion
// (lengths 0..70 around every vector width, with sentinels past the end), and
// exactness of the conversion itself (v / 255 correctly rounded, 255 -> 1.0f);
// the bilinear warps, plain and normalizing, over sizes on both sides of the
// AVX-512 permute path's limit, angles up to 180 degrees and shifted centres;
// the padded, shifted copy the warps read (shifts past the image included).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "data/convert.h"
#include "data/warp.h"
#include "data/mnist.h"
#include "tensor/random.h"
#include "tests/common/test_util.h"

using namespace tg::data;

using tgtest::for_each_target;

TEST_CASE("data kernels: u8_to_unit_float matches its scalar twin on every target") {
  constexpr int64_t kPad = 64;
  constexpr float kSentinel = -7.5f;
  int checked_targets = 0;
  for_each_target([&](const std::string& target) {
    CAPTURE(target);
    CHECK(std::string(kernels::convert_target_name()) == target);
    ++checked_targets;
    for (int64_t n = 0; n <= 70; ++n) {
      for (int64_t off = 0; off < 3; ++off) {
        std::vector<uint8_t> src(size_t(n + off));
        for (size_t k = 0; k < src.size(); ++k) src[k] = uint8_t((k * 97 + size_t(n) * 13 + 255) & 0xFF);
        std::vector<float> a(size_t(n + off + kPad), kSentinel), b(size_t(n + off + kPad), kSentinel);
        kernels::u8_to_unit_float(src.data() + off, a.data() + off, n);
        kernels::u8_to_unit_float_ref(src.data() + off, b.data() + off, n);
        CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "n=", n, " off=", off);
        for (int64_t k = n + off; k < int64_t(a.size()); ++k) REQUIRE(a[size_t(k)] == kSentinel);
        for (int64_t k = 0; k < off; ++k) REQUIRE(a[size_t(k)] == kSentinel);
      }
    }
    // every byte value: float(v) / 255.0f exactly, the ends exact
    std::vector<uint8_t> all(256);
    for (int v = 0; v < 256; ++v) all[size_t(v)] = uint8_t(v);
    std::vector<float> out(256);
    kernels::u8_to_unit_float(all.data(), out.data(), 256);
    for (int v = 0; v < 256; ++v) REQUIRE(out[size_t(v)] == float(v) / 255.0f);
    CHECK(out[0] == 0.0f);
    CHECK(out[255] == 1.0f);
    // the public entry point is the kernel
    std::vector<float> pub(256);
    bytes_to_unit_float(all.data(), pub.data(), 256);
    CHECK(std::memcmp(pub.data(), out.data(), sizeof(float) * 256) == 0);
  });
  CHECK(checked_targets >= 1);
  MESSAGE("u8_to_unit_float checked on ", checked_targets, " targets");
}

TEST_CASE("data kernels: the bilinear warps match their scalar twins on every target") {
  using namespace tg::data::kernels;
  int checked_targets = 0;
  for_each_target([&](const std::string& target) {
    CAPTURE(target);
    CHECK(std::string(warp_target_name()) == target);
    ++checked_targets;
    // widths around 16 and 28 (AVX-512's two-register rows hold w <= 28), wider
    // rows (the gather path everywhere), tall and flat images
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {5, 5}, {3, 16}, {16, 17}, {28, 28}, {40, 27}, {7, 29}, {7, 33}, {2, 60}}) {
      const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
      // exactly pw * ph floats: the kernels must not read past the padded source
      std::vector<float> pad(static_cast<size_t>(pw * ph)), rx(static_cast<size_t>(h)), ry(static_cast<size_t>(h));
      tg::Generator g(uint64_t(h * 100 + w));
      for (float& v : pad) v = float(g.next_double());
      for (double deg : {-180.0, -170.0, -45.0, -15.0, -1.0, 0.0, 1e-4, 0.5, 7.5, 15.0, 90.0, 135.0}) {
        for (double shift : {0.0, 0.25, -3.5}) {
          const float cs = float(std::cos(deg * M_PI / 180)), sn = float(std::sin(deg * M_PI / 180));
          const float cx = float(w - 1) * 0.5f, cy = float(h - 1) * 0.5f;
          for (int64_t r = 0; r < h; ++r) {
            const float v = float(r) - cy + float(shift);  // off-grid and shifted too
            rx[size_t(r)] = cx - cs * cx - sn * v + float(shift);
            ry[size_t(r)] = cy - sn * cx + cs * v;
          }
          const size_t n = static_cast<size_t>(h * w);
          constexpr float kSentinel = 123.0f;
          std::vector<float> a(n + 64, kSentinel), b(n + 64, kSentinel);
          warp_bilinear(pad.data(), pw, rx.data(), ry.data(), cs, sn, a.data(), h, w);
          warp_bilinear_ref(pad.data(), pw, rx.data(), ry.data(), cs, sn, b.data(), h, w);
          CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "h=", h, " w=", w,
                        " deg=", deg, " shift=", shift);
          std::fill(a.begin(), a.end(), kSentinel);
          std::fill(b.begin(), b.end(), kSentinel);
          warp_bilinear_normalize(pad.data(), pw, rx.data(), ry.data(), cs, sn, a.data(), h, w, 0.286f, 0.353f);
          warp_bilinear_normalize_ref(pad.data(), pw, rx.data(), ry.data(), cs, sn, b.data(), h, w, 0.286f, 0.353f);
          CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "normalize h=", h,
                        " w=", w, " deg=", deg, " shift=", shift);
          for (size_t k = n; k < a.size(); ++k) REQUIRE(a[k] == kSentinel);
        }
      }
    }
  });
  CHECK(checked_targets >= 1);
}

TEST_CASE("data kernels: pad_shifted matches its scalar twin on every target") {
  using namespace tg::data::kernels;
  int checked_targets = 0;
  for_each_target([&](const std::string& target) {
    CAPTURE(target);
    ++checked_targets;
    // widths around one and two AVX-512 registers of padded row, and wider
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {3, 11}, {5, 12}, {4, 13}, {5, 20}, {28, 28}, {9, 29}, {6, 40}, {33, 7}}) {
      const int64_t pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
      std::vector<float> img(static_cast<size_t>(h * w));  // exactly h * w: no read past it
      tg::Generator g(uint64_t(h * 1000 + w));
      for (float& v : img) v = float(g.next_double());
      for (int64_t dy : {int64_t(0), int64_t(2), int64_t(-1), -h, h + 3, int64_t(1) << 40, INT64_MIN}) {
        for (int64_t dx : {int64_t(0), int64_t(-2), int64_t(1), w, -w - 5, int64_t(1) << 40, INT64_MIN, INT64_MAX}) {
          constexpr float kSentinel = 123.0f;
          const size_t n = static_cast<size_t>(pw * ph);
          std::vector<float> a(n + 40, kSentinel), b(n + 40, kSentinel);
          pad_shifted(img.data(), h, w, dx, dy, -0.5f, 0.25f, a.data());
          pad_shifted_ref(img.data(), h, w, dx, dy, -0.5f, 0.25f, b.data());
          CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0, "h=", h, " w=", w,
                        " dx=", dx, " dy=", dy);
          for (size_t k = n; k < a.size(); ++k) REQUIRE(a[k] == kSentinel);
        }
      }
    }
  });
  CHECK(checked_targets >= 1);
}

TEST_CASE("data kernels: pad_shifted_ref puts known pixels, fills and border where they belong") {
  using namespace tg::data::kernels;
  // 2 x 3 image shifted right by 1 and up by 1: pad(r + P, c + P) = img(r + 1, c - 1)
  const std::vector<float> img = {1, 2, 3, 4, 5, 6};
  const int64_t h = 2, w = 3, pw = w + 2 * kWarpPad, ph = h + 2 * kWarpPad;
  std::vector<float> pad(static_cast<size_t>(pw * ph));
  pad_shifted_ref(img.data(), h, w, /*dx=*/1, /*dy=*/-1, /*tfill=*/-1.0f, /*rfill=*/9.0f, pad.data());
  auto at = [&](int64_t r, int64_t c) { return pad[size_t((r + kWarpPad) * pw + c + kWarpPad)]; };
  CHECK(at(0, 0) == -1.0f);  // from column -1: translation fill
  CHECK(at(0, 1) == 4.0f);   // img(1, 0)
  CHECK(at(0, 2) == 5.0f);   // img(1, 1)
  CHECK(at(1, 0) == -1.0f);  // from row 2: translation fill
  CHECK(at(1, 2) == -1.0f);
  CHECK(at(-1, 0) == 9.0f);  // border
  CHECK(at(0, -2) == 9.0f);
  CHECK(at(1, 3) == 9.0f);
  CHECK(at(2, 4) == 9.0f);
}
