// Optimizer state to and from safetensors files (see state_io.h); the format,
// its validation and the atomic write live in tensor/safetensors.
#include "optim/state_io.h"

#include "tensor/safetensors.h"

namespace tg::optim {

void save_state(const Optimizer& opt, const std::string& path,
                const std::map<std::string, std::string>& extra_metadata) {
  OptimizerState s = opt.state_dict();
  s.metadata["format"] = "tapegrad.optim.v1";  // before the check: an extra "format" collides too
  for (const auto& [k, v] : extra_metadata) {
    TG_CHECK(!s.metadata.count(k), "save_state: extra metadata key '", k, "' collides with the optimizer's own");
    s.metadata[k] = v;
  }
  tg::save_safetensors(path, s.tensors, s.metadata);
}

std::map<std::string, std::string> load_state(Optimizer& opt, const std::string& path) {
  tg::SafetensorsFile d = tg::load_safetensors(path);
  auto f = d.metadata.find("format");
  TG_CHECK(f != d.metadata.end() && f->second == "tapegrad.optim.v1", "load_state: '", path,
           "' is not a tapegrad optimizer state (no format = tapegrad.optim.v1 in its metadata)");
  opt.load_state_dict(OptimizerState{d.tensors, d.metadata});
  return d.metadata;
}

}  // namespace tg::optim
