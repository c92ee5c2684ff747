// Module checkpoints on top of tensor/safetensors (see serialize.h).
#include "nn/serialize.h"

#include <cstring>
#include <set>
#include <sstream>

#include "autograd/grad_mode.h"

namespace tg {

namespace {
const char* st_name(DType t) { return t == kFloat32 ? "F32" : t == kFloat64 ? "F64" : "I64"; }

// One tensor of the module with every name it has: a shared module or a
// parameter registered twice (tied weights) has several, which PyTorch's
// state_dict() lists all; named_parameters() keeps only the first.
struct Named {
  std::vector<std::string> names;  // names[0]: the one named_parameters()/named_buffers() use
  Tensor t;
};

// Parameters, then buffers, each in named_parameters()' order. Walks each
// module's own tensors under every path to it (named_modules() lists a shared
// module once per path). A module that registers one tensor twice itself
// still yields one name for it (named_parameters(false) drops the second).
std::vector<Named> all_names(const nn::Module& module) {
  const auto modules = module.named_modules();
  std::vector<std::pair<std::string, const nn::Module*>> walk{{"", &module}};
  for (const auto& [path, m] : modules) walk.emplace_back(path + ".", m.get());
  std::vector<Named> out;
  for (const bool params : {true, false}) {
    std::map<const TensorImpl*, size_t> index;
    for (const auto& [prefix, m] : walk)
      for (const auto& [name, t] : params ? m->named_parameters(false, false) : m->named_buffers(false, false)) {
        const auto [it, fresh] = index.emplace(t.impl(), out.size());
        if (fresh) out.push_back({{prefix + name}, t});
        else out[it->second].names.push_back(prefix + name);
      }
  }
  return out;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return a.numel() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}
}  // namespace

std::map<std::string, Tensor> state_dict(const nn::Module& module) {
  std::map<std::string, Tensor> out;
  for (const auto& [names, t] : all_names(module)) out[names[0]] = t.detach();
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
  const std::vector<Named> model = all_names(module);
  std::set<std::string> known;
  for (const auto& m : model) known.insert(m.names.begin(), m.names.end());
  for (const auto& [names, dst] : model) {
    // A tied tensor comes from the first of its names that the file has
    // (PyTorch's state_dict has them all, safetensors' save_model one of them);
    // any other of its names in the file must hold the same values.
    auto it = tensors.end();
    for (const auto& n : names)
      if ((it = tensors.find(n)) != tensors.end()) break;
    if (it == tensors.end()) {
      r.missing.push_back(names[0]);
      continue;
    }
    const std::string& key = it->first;
    const Tensor& src = it->second;
    for (const auto& n : names) {
      auto other = tensors.find(n);
      if (n != key && other != tensors.end() && !same_values(other->second, src))
        r.mismatched.push_back(n + ": differs from " + key + " (two names of one tied tensor)");
    }
    const bool dtype_ok = dst.is_floating_point() == src.is_floating_point();
    if (src.shape() != dst.shape() || !dtype_ok) {
      std::ostringstream os;
      os << key << ": expected " << dst.shape();
      if (!dtype_ok) os << " " << st_name(dst.dtype());
      os << ", file has " << src.shape();
      if (!dtype_ok) os << " " << st_name(src.dtype());
      r.mismatched.push_back(os.str());
      continue;
    }
    copies.emplace_back(dst, src);
    r.loaded.push_back(names[0]);
  }
  for (const auto& [name, t] : tensors)
    if (!known.count(name)) r.unexpected.push_back(name);

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
