// Module checkpoints on top of tensor/safetensors (see serialize.h).
#include "nn/serialize.h"

#include <sstream>

#include "autograd/grad_mode.h"

namespace tg {

using nn::NamedTensor;

namespace {
const char* st_name(DType t) { return t == kFloat32 ? "F32" : t == kFloat64 ? "F64" : "I64"; }
}  // namespace

std::map<std::string, Tensor> state_dict(const nn::Module& module) {
  std::map<std::string, Tensor> out;
  for (const auto& list : {module.named_parameters(), module.named_buffers()})
    for (const auto& [name, t] : list) out[name] = t.detach();
  return out;
}

void save(const nn::Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> md = metadata;
  if (!md.count("format")) md["format"] = "pt";
  save_safetensors(path, state_dict(module), md);
}

LoadResult load_state_dict(nn::Module& module, const std::map<std::string, Tensor>& tensors,
                           const LoadOptions& options, const std::string& source) {
  LoadResult r;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (model tensor, file tensor)
  // Model keys in registration order (parameters, then buffers), like PyTorch's messages.
  std::vector<NamedTensor> model_keys = module.named_parameters();
  for (auto& b : module.named_buffers()) model_keys.push_back(b);
  const std::map<std::string, Tensor> model = state_dict(module);
  for (const auto& [name, dst] : model_keys) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      r.missing.push_back(name);
      continue;
    }
    const Tensor& src = it->second;
    const bool dtype_ok = dst.is_floating_point() == src.is_floating_point();
    if (src.shape() != dst.shape() || !dtype_ok) {
      std::ostringstream os;
      os << name << ": expected " << dst.shape();
      if (!dtype_ok) os << " " << st_name(dst.dtype());
      os << ", file has " << src.shape();
      if (!dtype_ok) os << " " << st_name(src.dtype());
      r.mismatched.push_back(os.str());
      continue;
    }
    copies.emplace_back(dst, src);
    r.loaded.push_back(name);
  }
  for (const auto& [name, t] : tensors)
    if (!model.count(name)) r.unexpected.push_back(name);

  if (options.strict && !r.ok()) {
    std::ostringstream os;
    os << "load: " << source << " does not match the " << module.type_name() << " (strict):";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      os << "\n  " << what << " (" << keys.size() << "):";
      for (const auto& k : keys) os << " " << k;
    };
    list("missing keys", r.missing);
    list("unexpected keys", r.unexpected);
    for (const auto& m : r.mismatched) os << "\n  " << m;
    os << "\n  (use {.strict = false} to load only the matching keys)";
    throw Error(os.str());
  }
  NoGradGuard ng;
  for (auto& [dst, src] : copies) {
    Tensor d = dst;
    d.copy_(src);  // converts float32 <-> float64
  }
  return r;
}

LoadResult load(nn::Module& module, const std::string& path, const LoadOptions& options) {
  SafetensorsFile f = load_safetensors(path);
  LoadResult r = load_state_dict(module, f.tensors, options, "'" + path + "'");
  r.metadata = std::move(f.metadata);
  return r;
}

}  // namespace tg
