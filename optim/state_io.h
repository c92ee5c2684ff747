// Optimizer state on disk, in the safetensors format: an 8-byte little-endian
// header length, a JSON header ({"__metadata__": {str: str}, name: {dtype,
// shape, data_offsets}}) padded with spaces to a multiple of 8, then the raw
// little-endian tensor data. Files are written to "<path>.tmp", flushed and
// renamed over <path>, so a crash never leaves a half-written checkpoint.
//
// save_state/load_state store an Optimizer's state_dict() (moment tensors as
// "state.<k>.<buffer>", options and step counts as metadata) plus any extra
// metadata the caller passes, e.g. {"scheduler", sched.state_dict()}.
//
// write_safetensors/read_safetensors are a minimal general reader/writer
// (float32, float64, int64), kept here until the nn layer's checkpoint code
// provides the shared one.
#pragma once
#include <map>
#include <string>

#include "optim/optimizer.h"

namespace tg::optim {

struct SafetensorsData {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
SafetensorsData read_safetensors(const std::string& path);

void save_state(const Optimizer& opt, const std::string& path,
                const std::map<std::string, std::string>& extra_metadata = {});
// Loads into `opt` (which must have the same groups and parameter shapes) and
// returns the file's metadata, so the caller can read back its extra entries.
std::map<std::string, std::string> load_state(Optimizer& opt, const std::string& path);

}  // namespace tg::optim
