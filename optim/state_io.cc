// Minimal safetensors reader/writer for optimizer state (see state_io.h).
// Every header field is validated against the file size before any data is
// read; errors name the path and byte offset.
#include "optim/state_io.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace tg::optim {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {
using json = nlohmann::json;

const char* st_dtype(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    default: return "I64";
  }
}
}  // namespace

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    TG_CHECK(name != "__metadata__", "write_safetensors: '__metadata__' is not a valid tensor name");
    TG_CHECK(t0.defined(), "write_safetensors: tensor '", name, "' is undefined");
    Tensor t = t0.contiguous();
    const uint64_t bytes = uint64_t(t.numel()) * dtype_size(t.dtype());
    json shape = json::array();
    for (int d = 0; d < t.dim(); ++d) shape.push_back(t.size(d));
    header[name] = {{"dtype", st_dtype(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string h = header.dump();
  while (h.size() % 8) h.push_back(' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    TG_CHECK(f.good(), "write_safetensors: cannot open '", tmp, "' for writing");
    const uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(h.data(), std::streamsize(h.size()));
    for (const Tensor& t : data)
      if (t.numel() > 0)
        f.write(static_cast<const char*>(t.raw_data()), std::streamsize(uint64_t(t.numel()) * dtype_size(t.dtype())));
    f.flush();
    TG_CHECK(f.good(), "write_safetensors: writing '", tmp, "' failed");
  }
  TG_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "write_safetensors: cannot rename '", tmp, "' to '",
           path, "'");
}

SafetensorsData read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  TG_CHECK(f.good(), "read_safetensors: cannot open '", path, "'");
  const uint64_t file_size = uint64_t(f.tellg());
  f.seekg(0);
  TG_CHECK(file_size >= 8, "read_safetensors: '", path, "' is ", file_size, " bytes, too short for a header");
  uint64_t hlen = 0;
  f.read(reinterpret_cast<char*>(&hlen), 8);
  TG_CHECK(hlen <= file_size - 8, "read_safetensors: '", path, "' header length ", hlen,
           " at byte 0 exceeds the file size ", file_size);
  std::string h(hlen, '\0');
  f.read(h.data(), std::streamsize(hlen));
  json header;
  try {
    header = json::parse(h);
  } catch (const std::exception& e) {
    tg::detail::throw_error("read_safetensors: '", path, "' header at byte 8 is not valid JSON: ", e.what());
  }
  TG_CHECK(header.is_object(), "read_safetensors: '", path, "' header is not a JSON object");
  const uint64_t data_start = 8 + hlen, data_size = file_size - data_start;
  SafetensorsData out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      TG_CHECK(it->is_object(), "read_safetensors: '", path, "' __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        TG_CHECK(m->is_string(), "read_safetensors: '", path, "' metadata '", m.key(), "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const json& e = *it;
    TG_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
             "read_safetensors: '", path, "' entry '", name, "' lacks dtype/shape/data_offsets");
    const std::string dt = e["dtype"].get<std::string>();
    DType dtype;
    if (dt == "F32") dtype = DType::Float32;
    else if (dt == "F64") dtype = DType::Float64;
    else if (dt == "I64") dtype = DType::Int64;
    else tg::detail::throw_error("read_safetensors: '", path, "' tensor '", name, "' has unsupported dtype ", dt);
    Shape shape;
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      TG_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, "read_safetensors: '", path, "' tensor '", name,
               "' has a bad shape");
      shape.push_back(d.get<int64_t>());
      numel *= uint64_t(d.get<int64_t>());
    }
    const auto& off = e["data_offsets"];
    TG_CHECK(off.is_array() && off.size() == 2, "read_safetensors: '", path, "' tensor '", name, "' bad data_offsets");
    const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    TG_CHECK(b <= en && en <= data_size && en - b == numel * dtype_size(dtype), "read_safetensors: '", path,
             "' tensor '", name, "' data_offsets [", b, ", ", en, ") do not fit its shape and dtype or the ",
             data_size, " data bytes");
    Tensor t = empty(shape, {.dtype = dtype});
    if (numel > 0) {
      f.seekg(std::streamoff(data_start + b));
      f.read(static_cast<char*>(t.raw_data()), std::streamsize(en - b));
      TG_CHECK(f.good(), "read_safetensors: '", path, "' short read of tensor '", name, "' at byte ", data_start + b);
    }
    out.tensors[name] = t;
  }
  return out;
}

void save_state(const Optimizer& opt, const std::string& path,
                const std::map<std::string, std::string>& extra_metadata) {
  OptimizerState s = opt.state_dict();
  for (const auto& [k, v] : extra_metadata) {
    TG_CHECK(!s.metadata.count(k), "save_state: extra metadata key '", k, "' collides with the optimizer's own");
    s.metadata[k] = v;
  }
  s.metadata["format"] = "tapegrad.optim.v1";
  write_safetensors(path, s.tensors, s.metadata);
}

std::map<std::string, std::string> load_state(Optimizer& opt, const std::string& path) {
  SafetensorsData d = read_safetensors(path);
  auto f = d.metadata.find("format");
  TG_CHECK(f != d.metadata.end() && f->second == "tapegrad.optim.v1", "load_state: '", path,
           "' is not a tapegrad optimizer state (no format = tapegrad.optim.v1 in its metadata)");
  opt.load_state_dict(OptimizerState{d.tensors, d.metadata});
  return d.metadata;
}

}  // namespace tg::optim
