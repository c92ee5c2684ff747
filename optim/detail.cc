// Text helpers for optimizer and scheduler state: doubles written as the
// shortest decimal that reads back to the same bits (std::to_chars), parsed
// strictly, so a state saved and loaded through safetensors metadata or JSON
// resumes bit-identically. Kept apart from optimizer.cc so the schedulers
// need nothing from the tensor layer.
#include <charconv>
#include <cmath>
#include <string>

#include "optim/optimizer.h"

namespace tg::optim::detail {

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

double parse_double(const std::string& s, const std::string& key) {
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  if (s == "nan") return NAN;
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  TG_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size(), "optimizer state: '", key,
           "' is not a number: '", s, "'");
  return v;
}

int64_t parse_int(const std::string& s, const std::string& key) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  TG_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size(), "optimizer state: '", key,
           "' is not an integer: '", s, "'");
  return v;
}

const std::string& require_key(const std::map<std::string, std::string>& m, const std::string& key,
                               const char* optimizer) {
  auto it = m.find(key);
  TG_CHECK(it != m.end(), optimizer, ".load_state_dict: the state has no '", key, "' entry");
  return it->second;
}

}  // namespace tg::optim::detail
