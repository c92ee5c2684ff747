// The non-template parts of OptimizerBase: parameter checks and the
// optionally parallel walk over every parameter's elements.
#include "optim/optimizer.h"

namespace tg::optim::detail {

void check_param(const Tensor& p, const char* optimizer, size_t group, size_t index) {
  TG_CHECK(p.defined(), optimizer, ": parameter ", index, " of group ", group, " is an undefined tensor");
  TG_CHECK(p.is_floating_point(), optimizer, ": parameter ", index, " of group ", group,
           " has dtype ", p.dtype(), "; only float32 and float64 tensors can be optimized");
  TG_CHECK(p.is_leaf(), optimizer, ": parameter ", index, " of group ", group,
           " is not a leaf tensor (it was computed by an op); optimize the leaf, or detach() it");
  TG_CHECK(p.is_contiguous(), optimizer, ": parameter ", index, " of group ", group, " of shape ",
           p.shape(), " is not contiguous; pass p.contiguous() as a leaf instead");
}

void check_nonnegative_state(const Tensor& t, const char* optimizer, const std::string& key) {
  if (!t.defined() || t.numel() == 0) return;
  const double lo = t.min().to(kFloat64).item<double>();
  TG_CHECK(!(lo < 0), optimizer, ".load_state_dict: ", key, " has a negative entry (", lo,
           "); a running average of squares is never negative, so the state is damaged");
}

constexpr int64_t kParallelMin = int64_t(1) << 17;  // below this many elements, stay serial

void for_each_chunk(const std::vector<int64_t>& numels,
                    const std::function<void(size_t, int64_t, int64_t)>& fn) {
  int64_t total = 0;
  for (int64_t n : numels) total += n;
  if (total < kParallelMin || get_num_threads() == 1) {
    serial_region([&] {
      for (size_t i = 0; i < numels.size(); ++i)
        if (numels[i] > 0) fn(i, 0, numels[i]);
    });
    return;
  }
  // Part p of n holds the p-th n-th of every parameter: parallel_for gives
  // part p to thread p, the same thread that computed that part of the
  // parameter's forward product (GEMMs split their output columns, i.e. the
  // weight's rows, the same way), so the weights stay in that core's cache.
  const int64_t n = get_num_threads();
  parallel_for(0, n, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (size_t i = 0; i < numels.size(); ++i) {
        const int64_t lo = numels[i] * p / n, hi = numels[i] * (p + 1) / n;
        if (hi > lo) fn(i, lo, hi);
      }
  });
}

}  // namespace tg::optim::detail
