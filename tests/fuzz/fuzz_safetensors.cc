// libFuzzer target: the safetensors reader (header JSON, dtypes, shapes,
// offsets). Any tg::Error is a correct rejection; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include "tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tg::SafetensorsFile f = tg::parse_safetensors({data, size}, "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors) (void)t.numel();
  } catch (const tg::Error&) {
  }
  return 0;
}
