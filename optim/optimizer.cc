// The non-template parts of OptimizerBase: parameter checks and the chunked,
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

// Chunks of 32K elements: big enough to be worth a thread, small enough to
// balance a model whose parameters differ in size by orders of magnitude.
constexpr int64_t kChunk = int64_t(1) << 15;
constexpr int64_t kParallelMin = int64_t(1) << 17;  // below this many elements, stay serial

void for_each_chunk(const std::vector<int64_t>& numels,
                    const std::function<void(size_t, int64_t, int64_t)>& fn) {
  int64_t total = 0;
  for (int64_t n : numels) total += n;
  if (total < kParallelMin || get_num_threads() == 1) {
    for (size_t i = 0; i < numels.size(); ++i)
      if (numels[i] > 0) fn(i, 0, numels[i]);
    return;
  }
  struct Chunk {
    size_t item;
    int64_t lo, hi;
  };
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < numels.size(); ++i)
    for (int64_t lo = 0; lo < numels[i]; lo += kChunk) chunks.push_back({i, lo, std::min(numels[i], lo + kChunk)});
  parallel_for(0, int64_t(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) fn(chunks[c].item, chunks[c].lo, chunks[c].hi);
  });
}

}  // namespace tg::optim::detail
