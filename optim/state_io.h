// Optimizer state on disk, in the safetensors format: an 8-byte little-endian
// header length, a JSON header ({"__metadata__": {str: str}, name: {dtype,
// shape, data_offsets}}) padded with spaces to a multiple of 8, then the raw
// little-endian tensor data. Files are written to "<path>.tmp.<pid>.<n>",
// flushed and renamed over <path>, so a crash never leaves a half-written checkpoint.
//
// save_state/load_state store an Optimizer's state_dict() (moment tensors as
// "state.<k>.<buffer>", options and step counts as metadata) plus any extra
// metadata the caller passes, e.g. {"scheduler", sched.state_dict()}.
//
// The file format and its atomic writes are tensor/safetensors.h's.
#pragma once
#include <map>
#include <string>

#include "optim/optimizer.h"

namespace tg::optim {

void save_state(const Optimizer& opt, const std::string& path,
                const std::map<std::string, std::string>& extra_metadata = {});
// Loads into `opt` (which must have the same groups and parameter shapes) and
// returns the file's metadata, so the caller can read back its extra entries.
std::map<std::string, std::string> load_state(Optimizer& opt, const std::string& path);

}  // namespace tg::optim
