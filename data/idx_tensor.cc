// idx_to_tensor: an IdxArray as a float32/float64/int64 tg::Tensor. Kept apart
// from idx.cc so the reader itself depends on nothing but zlib.
#include "data/idx.h"
#include "tensor/tensor.h"

namespace tg::data {

Tensor idx_to_tensor(const IdxArray& a, DType dtype, double scale) {
  TG_CHECK(a.dims.size() <= size_t(Shape::kMaxDims), a.path, ": idx_to_tensor: rank ", a.dims.size(),
           " exceeds the tensor limit of ", Shape::kMaxDims);
  TG_CHECK(dtype != kInt64 || scale == 1.0, a.path, ": idx_to_tensor: an int64 target needs scale 1, got ", scale);
  Tensor t = empty(Shape(a.dims), {.dtype = dtype});
  const int64_t n = a.numel();
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = t.data_ptr<T>();
    auto convert = [&](const auto* in) {
      if constexpr (std::is_same_v<T, int64_t>) {
        for (int64_t i = 0; i < n; ++i) out[i] = int64_t(in[i]);
      } else if (scale == 1.0) {
        for (int64_t i = 0; i < n; ++i) out[i] = T(in[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = T(double(in[i]) * scale);
      }
    };
    switch (a.type) {
      case IdxType::UInt8: convert(a.data<uint8_t>()); break;
      case IdxType::Int8: convert(a.data<int8_t>()); break;
      case IdxType::Int16: convert(a.data<int16_t>()); break;
      case IdxType::Int32: convert(a.data<int32_t>()); break;
      case IdxType::Float32:
        TG_CHECK(dtype != kInt64, a.path, ": idx_to_tensor: float data cannot become int64");
        convert(a.data<float>());
        break;
      case IdxType::Float64:
        TG_CHECK(dtype != kInt64, a.path, ": idx_to_tensor: double data cannot become int64");
        convert(a.data<double>());
        break;
    }
  });
  return t;
}

}  // namespace tg::data
