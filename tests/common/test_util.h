// Shared helpers for the doctest suite: JSON → tensor conversion, closeness
// checks, and a loop over every compiled Highway target.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <tbb/global_control.h>

#include "hwy/targets.h"
#include "tapegrad/tapegrad.h"

namespace tgtest {

inline nlohmann::json load_json(const std::string& name) {
  const std::string path = std::string(TG_TEST_REFERENCE_DIR) + "/" + name;
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot open reference file " << path);
  return nlohmann::json::parse(f);
}

inline void flatten(const nlohmann::json& j, std::vector<double>& out, std::vector<int64_t>& shape, int depth) {
  if (j.is_array()) {
    if (int(shape.size()) <= depth) shape.push_back(int64_t(j.size()));
    for (const auto& e : j) flatten(e, out, shape, depth + 1);
  } else {
    out.push_back(j.is_boolean() ? (j.get<bool>() ? 1.0 : 0.0) : j.get<double>());
  }
}

// A JSON nested list as a float64 (or int64) tensor.
inline tg::Tensor from_json(const nlohmann::json& j, tg::DType dtype = tg::kFloat64) {
  std::vector<double> v;
  std::vector<int64_t> shape;
  flatten(j, v, shape, 0);
  tg::Tensor t = tg::tensor(v, tg::Shape(shape));
  if (shape.empty()) t = t.reshape(tg::Shape{});
  return dtype == tg::kFloat64 ? t : t.to(dtype);
}

inline double max_abs_diff(const tg::Tensor& a, const tg::Tensor& b) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), "shapes differ: " << a.shape() << " vs " << b.shape());
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

inline bool bit_equal(const tg::Tensor& a, const tg::Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const tg::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), size_t(ca.numel()) * tg::dtype_size(a.dtype())) == 0;
}

// Restores the thread count a test changes (tg::set_num_threads is global).
struct ThreadsGuard {
  int saved = tg::get_num_threads();
  ~ThreadsGuard() { tg::set_num_threads(saved); }
};

// Whether oneTBB gives tg's pool a second thread at all (parallel_for can only
// split a range then).
inline bool pool_can_split() {
  return tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism) >= 2;
}

// Runs fn once per compiled and supported Highway target, forcing it.
inline void for_each_target(const std::function<void(const std::string&)>& fn) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    fn(std::string(hwy::TargetName(target)));
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace tgtest
