// DType: the element types a Tensor can hold.
//   float32 (the training path), float64 (gradcheck, references), int64 (labels,
//   indices). Masks from comparisons keep the input's dtype with values 0 and 1.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>

namespace tg {

enum class DType : uint8_t { Float32, Float64, Int64 };
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;

constexpr size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
constexpr const char* dtype_name(DType t) {
  return t == DType::Float32 ? "float32" : t == DType::Float64 ? "float64" : "int64";
}
constexpr bool is_floating(DType t) { return t != DType::Int64; }
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };

// Calls f(T{}) with T the C++ type of `t`: TG_DISPATCH-free type switch.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default: return f(int64_t{});
  }
}
template <class F>
decltype(auto) visit_float_dtype(DType t, F&& f) {
  if (t == DType::Float64) return f(double{});
  return f(float{});
}

}  // namespace tg
