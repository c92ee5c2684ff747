// Tensor: a cheap handle (one shared pointer) to a strided view of shared,
// 64-byte-aligned storage, with optional autograd metadata.
//
// A Tensor has a dtype (float32, float64, int64), a shape, strides (in
// elements) and an offset into its Storage. Views (reshape, transpose, permute,
// narrow, expand, squeeze, ...) share storage and never copy; contiguous() is
// free when the tensor already is. Tensors that do not require grad carry no
// autograd metadata and pay nothing for it.
//
// The tensor layer itself never records gradients: methods that are
// differentiable (views, arithmetic) are declared here for convenience and
// defined in autograd/, next to their backward.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace tg {

namespace autograd {
struct Meta;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  std::shared_ptr<autograd::Meta> meta;  // null unless autograd is involved
};

struct TensorOptions {
  DType dtype = DType::Float32;
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  Tensor(const Tensor&) = default;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor&) & = default;
  Tensor& operator=(Tensor&&) & noexcept = default;
  // Assigning to a temporary writes into it, as in LibTorch: `x[0] = t` is
  // x[0].copy_(t) (broadcast, dtype converted) and `x[0] = 5.0` is fill_. It
  // compiled and did nothing before. Assigning to a named tensor rebinds it.
  Tensor& operator=(const Tensor& src) &&;
  Tensor& operator=(double v) &&;

  // ---- metadata ----
  // On an undefined (default-constructed) tensor these throw tg::Error: every
  // op reads them first, so `cat({a, Tensor()})` is an error, not a crash.
  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return checked()->dtype; }
  const Shape& shape() const { return checked()->shape; }
  const Shape& strides() const { return checked()->strides; }
  Shape sizes() const { return checked()->shape; }
  int dim() const { return checked()->shape.size(); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return checked()->shape.numel(); }
  int64_t offset() const { return checked()->offset; }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  uint32_t version() const { return checked()->storage->version; }

  // ---- reading values back ----
  // Pointer to the first element; the tensor must be contiguous and of type T.
  template <class T> T* data_ptr() const;
  // Pointer to the first element, any layout (index with strides()).
  template <class T> T* raw_ptr() const {
    return static_cast<T*>(impl_->storage->data()) + impl_->offset;
  }
  void* raw_data() const;
  template <class T> T item() const;                            // one-element tensors
  template <class T> std::vector<T> to_vector() const;          // all values, row-major
  template <class T> T at(std::initializer_list<int64_t> idx) const;  // one element
  double item_double() const;

  // ---- views (differentiable; share storage) ----
  Tensor view(const Shape& shape) const;     // must be viewable without a copy
  Tensor reshape(const Shape& shape) const;  // copies only when it must; one -1 allowed
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor permute(const Shape& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;                 // undefined tensor when none
  void set_grad(const Tensor& g);      // undefined tensor clears it
  Tensor detach() const;
  // loss.backward() for a scalar; y.backward(dy) for any tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;

  // ---- arithmetic methods (differentiable; see autograd/ops.h) ----
  Tensor sum() const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor relu() const;
  Tensor abs() const;
  Tensor sqrt() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor pow(double p) const;
  Tensor matmul(const Tensor& o) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;

  // ---- in-place (not recorded; throw on a leaf that requires grad while grad mode is on) ----
  Tensor& zero_();
  Tensor& fill_(double v);
  Tensor& copy_(const Tensor& src);  // broadcasting copy, with dtype conversion
  Tensor& add_(const Tensor& o, double alpha = 1.0);
  Tensor& sub_(const Tensor& o) { return add_(o, -1.0); }
  Tensor& mul_(const Tensor& o);
  Tensor& mul_(double s);
  Tensor& div_(const Tensor& o);
  Tensor& add_(double s);
  void bump_version() { ++checked()->storage->version; }

 private:
  [[noreturn]] static void throw_undefined();
  TensorImpl* checked() const {
    if (!impl_) [[unlikely]] throw_undefined();
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

// Prints like PyTorch: tensor([[1.0000, 2.0000], ...], shape=[2,2], dtype=float32);
// large tensors are abbreviated with "..." (3 items at each edge).
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// ---- raw construction (no autograd) ----
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// ---- factories ----
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor scalar_tensor(double value, DType dtype = kFloat32);
// [start, end) with step; dtype defaults to int64, which needs all three to be whole numbers.
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {.dtype = kInt64});
Tensor arange(int64_t end);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
// tg::tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}); an empty shape means 1-D of values.size().
Tensor tensor(const std::vector<float>& values, const Shape& shape = {}, bool requires_grad = false);
Tensor tensor(const std::vector<double>& values, const Shape& shape = {}, bool requires_grad = false);
Tensor tensor(const std::vector<int64_t>& values, const Shape& shape = {});
// Braced lists pick their element type: tg::tensor({1.f, 2.f}) is float32, {1.0} float64.
inline Tensor tensor(std::initializer_list<float> v, const Shape& s = {}, bool rg = false) {
  return tensor(std::vector<float>(v), s, rg);
}
inline Tensor tensor(std::initializer_list<double> v, const Shape& s = {}, bool rg = false) {
  return tensor(std::vector<double>(v), s, rg);
}

// ---- template definitions ----
template <class T>
T* Tensor::data_ptr() const {
  TG_CHECK(defined(), "data_ptr: the tensor is undefined");
  TG_CHECK(dtype() == dtype_of<T>::value, "data_ptr: tensor has dtype ", dtype(), ", requested ",
           dtype_of<T>::value);
  TG_CHECK(is_contiguous(), "data_ptr: tensor of shape ", shape(), " with strides ", strides(),
           " is not contiguous; call contiguous() first");
  return raw_ptr<T>();
}

}  // namespace tg
