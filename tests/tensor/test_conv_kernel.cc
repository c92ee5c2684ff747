// The im2col/col2im span kernels (tensor/kernels/conv.h) against their scalar
// twins on every compiled Highway target: float32 and float64, span lengths
// 0..40, 0..5 rows, source strides len..len+3, pointers misaligned by 0..3
// elements. copy_spans may run over by kSpanSlackBytes (into the slack the
// caller provides): the test checks everything up to rows * len and leaves
// that slack in the buffers. add_spans must touch exactly the named elements:
// sentinels between and after the destination rows check it.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/kernels/conv.h"
#include "tests/common/test_util.h"

namespace k = tg::kernels;

namespace {

template <class T>
void check_all_targets() {
  const int64_t slack = k::kSpanSlackBytes / int64_t(sizeof(T));
  uint64_t state = 99;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return T(int64_t(state >> 40) % 2001 - 1000) / T(64);
  };
  int checked = 0;
  tgtest::for_each_target([&](const std::string& target) {
    for (int64_t len = 0; len <= 40; ++len)
      for (int64_t rows = 0; rows <= 5; ++rows)
        for (int64_t extra = 0; extra <= 3; ++extra) {
          const int64_t stride = len + extra, mis = (len + rows + extra) % 4;
          INFO(target, " len=", len, " rows=", rows, " stride=", stride, " mis=", mis);
          std::vector<T> src(size_t(mis + rows * stride + slack));
          for (auto& v : src) v = next();
          // copy
          std::vector<T> a(size_t(mis + rows * len + slack), T(7)), b = a;
          k::copy_spans(src.data() + mis, stride, rows, len, a.data() + mis);
          k::copy_spans_ref(src.data() + mis, stride, rows, len, b.data() + mis);
          REQUIRE(std::memcmp(a.data(), b.data(), size_t(mis + rows * len) * sizeof(T)) == 0);
          // add: dst rows `stride` apart, sentinels in the gaps and after
          std::vector<T> c(size_t(mis + rows * stride + 4)), e;
          for (auto& v : c) v = next();
          e = c;
          k::add_spans(src.data() + mis, rows, len, c.data() + mis, stride);
          k::add_spans_ref(src.data() + mis, rows, len, e.data() + mis, stride);
          REQUIRE(std::memcmp(c.data(), e.data(), c.size() * sizeof(T)) == 0);
          ++checked;
        }
  });
  CHECK(checked >= 41 * 6 * 4);
}

}  // namespace

TEST_CASE("conv kernels: the scalar twins copy and add the named spans") {
  const float src[] = {1, 2, 3, 4, 5, 6, 7, 8};
  float dst[4 + 16] = {};
  k::copy_spans_ref(src, 3, 2, 2, dst);  // rows {1,2} and {4,5}
  CHECK(dst[0] == 1);
  CHECK(dst[1] == 2);
  CHECK(dst[2] == 4);
  CHECK(dst[3] == 5);
  float acc[6] = {10, 10, 10, 10, 10, 10};
  k::add_spans_ref(src, 2, 2, acc, 3);  // acc[0..1] += {1,2}, acc[3..4] += {3,4}
  const float want[6] = {11, 12, 10, 13, 14, 10};
  for (int i = 0; i < 6; ++i) CHECK(acc[i] == want[i]);
}

TEST_CASE("conv kernels: float32 span copies and adds equal their scalar twins on every target") {
  check_all_targets<float>();
}

TEST_CASE("conv kernels: float64 span copies and adds equal their scalar twins on every target") {
  check_all_targets<double>();
}
