// The data layer's Highway kernels against their scalar twins, bit for bit, on
// every compiled target this CPU supports: uint8 -> [0, 1] float conversion
// (lengths 0..70 around every vector width, with sentinels past the end), and
// exactness of the conversion itself (v / 255 correctly rounded, 255 -> 1.0f).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "data/convert.h"
#include "data/mnist.h"
#include "hwy/highway.h"
#include "hwy/targets.h"

using namespace tg::data;

namespace {

// Runs `body(target_name)` once per compiled target that this CPU supports.
void for_each_target(const std::function<void(const std::string&)>& body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    body(hwy::TargetName(t));
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace

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
