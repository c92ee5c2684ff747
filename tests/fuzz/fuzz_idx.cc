// libFuzzer target: the IDX reader on raw and gzip input. Any tg::Error is a
// correct rejection; a crash, sanitizer report, hang or other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "data/idx.h"
#include "tensor/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::vector<uint8_t> stream = tg::data::inflate_if_gzip({data, size}, "fuzz.idx");
    tg::data::IdxArray a = tg::data::parse_idx(stream, "fuzz.idx");
    double sum = 0;
    for (int64_t i = 0; i < a.numel(); ++i) sum += a.value(i);
    if (a.dims.size() <= 8) {
      tg::Tensor t = tg::data::idx_to_tensor(a, tg::kFloat32, 1.0 / 255);
      (void)t;
    }
    (void)sum;
  } catch (const tg::Error&) {
  }
  return 0;
}
