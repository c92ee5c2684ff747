// Model checkpoints: a Module's parameters and buffers in a safetensors file,
// under the dotted names of named_parameters()/named_buffers() — the keys of
// PyTorch's state_dict() (tied tensors: see below), so files move both ways:
//   torch:    safetensors.torch.save_file(model.state_dict(), "m.safetensors")
//   tapegrad: tg::load(model, "m.safetensors");          // strict by default
//   tapegrad: tg::save(model, "m.safetensors", {{"epoch", "3"}});
//   torch:    model.load_state_dict(safetensors.torch.load_file("m.safetensors"))
//
// Strict loading checks everything before copying anything and reports every
// missing key, unexpected key and shape/dtype mismatch in one tg::Error, e.g.
//   features.0.weight: expected [6,1,5,5], file has [6,3,5,5]
//
// Tied tensors (a module registered under two names, a parameter registered
// again under another name) have several keys. Saving writes each tensor once,
// under its first name (the one named_parameters() gives), as
// safetensors.torch.save_model writes one name per shared tensor. Loading
// accepts any of its names: PyTorch's full state_dict (every name) loads, the
// tensor is copied from the first of its names in the file, and another of
// its names whose values differ is an error naming both keys; the other names
// are never unexpected, and absent ones never missing when one is present.
// PyTorch reads tapegrad's file of a tied model with
// safetensors.torch.load_model(model, path) or load_state_dict(..., strict=False)
// (its strict load_state_dict wants every name).
// Non-strict loading ({.strict = false}) copies the keys that match and
// returns the others in LoadResult (that is how a pretrained backbone goes
// into a model with a new head).
//
// dtype policy: floating tensors convert on load (an F64 file loads into an F32
// model and vice versa, rounding to the model's dtype); an integer buffer
// (num_batches_tracked) must be I64 in the file, and a float parameter cannot
// come from an integer tensor: those count as mismatches.
// Saving writes the model's tensors in their own dtypes, plus the metadata
// {"format": "pt"} (what PyTorch's safetensors writer uses) unless the caller
// gives another "format".
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/safetensors.h"

namespace tg {

struct LoadOptions {
  bool strict = true;
};

struct LoadResult {
  // Model keys are listed in registration order (parameters, then buffers);
  // unexpected keys in the file's (sorted) order.
  // A tied tensor appears once, under its first name, in loaded and missing.
  std::vector<std::string> loaded;      // keys copied into the model
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
  // "key: expected [4,3], file has [3,4]", "key: expected [4] F32, file has [4] I64",
  // "key: differs from other.key (two names of one tied tensor)"
  std::vector<std::string> mismatched;
  std::map<std::string, std::string> metadata;  // the file's __metadata__
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

// The module's parameters and buffers by dotted name (detached aliases, no
// copy); a tied tensor under its first name only.
std::map<std::string, Tensor> state_dict(const nn::Module& module);

void save(const nn::Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {});
LoadResult load(nn::Module& module, const std::string& path, const LoadOptions& options = {});
// The same from tensors already in memory; `source` names them in messages.
LoadResult load_state_dict(nn::Module& module, const std::map<std::string, Tensor>& tensors,
                           const LoadOptions& options = {}, const std::string& source = "state dict");

}  // namespace tg
