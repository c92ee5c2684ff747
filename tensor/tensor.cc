// Tensor metadata, element access, printing and the deterministic factories.
#include "tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "tensor/raw.h"

namespace tg {

void Tensor::throw_undefined() {
  detail::throw_error("the tensor is undefined (a default-constructed tg::Tensor, or an input that was never set): "
                      "it has no shape, dtype or data");
}

// A 0-d tensor has no dimension to ask about (wrap_dim accepts 0 and -1 for
// rank 0, as reductions do; here that read a stale slot of the Shape).
int64_t Tensor::size(int64_t d) const {
  TG_CHECK(dim() > 0, "size(", d, "): a 0-d tensor has no dimensions");
  return impl_->shape[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  TG_CHECK(dim() > 0, "stride(", d, "): a 0-d tensor has no dimensions");
  return impl_->strides[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // as PyTorch: nothing to lay out ([2,0,3] fresh from zeros was not)
  int64_t expected = 1;
  for (int d = dim() - 1; d >= 0; --d) {
    const int64_t n = impl_->shape[d];
    if (n == 1) continue;
    if (impl_->strides[d] != expected) return false;
    expected *= n;
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * int64_t(dtype_size(dtype()));
}

namespace {
int64_t element_offset(const Tensor& t, std::initializer_list<int64_t> idx) {
  TG_CHECK(int(idx.size()) == t.dim(), "at: got ", idx.size(), " indices for a tensor of shape ", t.shape());
  int64_t off = t.offset(), d = 0;
  for (int64_t i : idx) {
    const int64_t n = t.shape()[int(d)];
    TG_CHECK(i >= -n && i < n, "at: index ", i, " is out of range for dim ", d, " of size ", n);
    off += (i < 0 ? i + n : i) * t.strides()[int(d)];
    ++d;
  }
  return off;
}
double load_as_double(const Tensor& t, int64_t off) {
  const void* base = t.impl()->storage->data();
  switch (t.dtype()) {
    case kFloat32: return static_cast<const float*>(base)[off];
    case kFloat64: return static_cast<const double*>(base)[off];
    default: return double(static_cast<const int64_t*>(base)[off]);
  }
}
}  // namespace

double Tensor::item_double() const {
  TG_CHECK(defined(), "item: the tensor is undefined");
  TG_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ", shape());
  int64_t off = offset();
  return load_as_double(*this, off);
}

template <class T>
T Tensor::item() const {
  TG_CHECK(defined(), "item: the tensor is undefined");
  TG_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ", shape());
  if (dtype() == kInt64) return static_cast<T>(static_cast<const int64_t*>(impl_->storage->data())[offset()]);
  return static_cast<T>(load_as_double(*this, offset()));
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  TG_CHECK(defined(), "to_vector: the tensor is undefined");
  Tensor c = raw::to(raw::contiguous(*this), dtype_of<T>::value);
  const T* p = c.raw_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

template <class T>
T Tensor::at(std::initializer_list<int64_t> idx) const {
  const int64_t off = element_offset(*this, idx);
  if (dtype() == kInt64) return static_cast<T>(static_cast<const int64_t*>(impl_->storage->data())[off]);
  return static_cast<T>(load_as_double(*this, off));
}

template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template int Tensor::item<int>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template float Tensor::at<float>(std::initializer_list<int64_t>) const;
template double Tensor::at<double>(std::initializer_list<int64_t>) const;
template int64_t Tensor::at<int64_t>(std::initializer_list<int64_t>) const;

// ---------------------------------------------------------------- printing
namespace {
// Width and notation come from the elements shown (a summary shows 3 + 3 per
// dim, as PyTorch): formatting all of a 10^7-element tensor took 7 s. int64
// elements print from their int64 value (they went through double: 2^63 - 1
// printed as -2^63).
struct Printer {
  const Tensor& t;
  std::ostream& os;
  bool summarize;
  bool is_int;
  int width = 0;
  int precision = 4;
  bool sci = false;

  // f(offset) for every element shown, in print order.
  template <class F>
  void each_shown(int d, int64_t off, F&& f) const {
    if (t.dim() == 0) return f(off);
    const int64_t n = t.shape()[d];
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 6 && i == 3) i = n - 3;
      if (d + 1 == t.dim()) f(off + i * t.strides()[d]);
      else each_shown(d + 1, off + i * t.strides()[d], f);
    }
  }
  std::string fmt(int64_t off) const {
    std::ostringstream s;
    if (is_int) {
      s << static_cast<const int64_t*>(t.impl()->storage->data())[off];
      return s.str();
    }
    const double v = load_as_double(t, off);
    if (std::isnan(v)) s << "nan";
    else if (std::isinf(v)) s << (v > 0 ? "inf" : "-inf");
    else if (sci) s << std::scientific << std::setprecision(precision) << v;
    else s << std::fixed << std::setprecision(precision) << v;
    return s.str();
  }
  void rec(int d, int64_t off, int indent) {
    if (t.dim() == 0) {
      os << fmt(off);
      return;
    }
    const int64_t n = t.shape()[d];
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 6 && i == 3) {
        os << (d + 1 == t.dim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
        i = n - 3;
      }
      if (d + 1 == t.dim()) {
        std::string s = fmt(off + i * t.strides()[d]);
        os << std::string(std::max<int>(0, width - int(s.size())), ' ') << s;
      } else {
        rec(d + 1, off + i * t.strides()[d], indent + 1);
      }
      if (i + 1 < n) os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(t.dim() - d - 1 > 1 ? 1 : 0, '\n') + std::string(indent + 1, ' '));
    }
    os << ']';
  }
};
}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  Printer p{t, os, t.numel() > 1000, t.dtype() == kInt64};
  if (t.numel() > 0) {
    if (!p.is_int) {
      double mx = 0, mn = INFINITY;
      p.each_shown(0, t.offset(), [&](int64_t off) {
        const double x = load_as_double(t, off);
        if (std::isfinite(x)) {
          mx = std::max(mx, std::abs(x));
          if (x != 0) mn = std::min(mn, std::abs(x));
        }
      });
      p.sci = mx >= 1e8 || (mn < 1e-4 && mn != INFINITY);
    }
    p.each_shown(0, t.offset(), [&](int64_t off) { p.width = std::max<int>(p.width, int(p.fmt(off).size())); });
  }
  os << "tensor(";
  p.rec(0, t.offset(), 7);
  os << ", shape=" << t.shape() << ", dtype=" << t.dtype();
  if (t.requires_grad()) os << ", requires_grad=true";
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

// ---------------------------------------------------------------- construction
Tensor empty(const Shape& shape, TensorOptions opts) {
  check_sizes(shape, "empty");
  auto impl = detail::make_pooled<TensorImpl>();
  impl->storage = detail::make_pooled<Storage>(size_t(shape.numel()) * dtype_size(opts.dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  Tensor t(std::move(impl));
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype()}); }

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = detail::make_pooled<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  Tensor t = empty(shape, {.dtype = opts.dtype});
  raw::fill_(t, value);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype()}); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, {.dtype = t.dtype()}); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, {.dtype = dtype}); }

Tensor arange(double start, double end, double step, TensorOptions opts) {
  TG_CHECK(step != 0, "arange: step must be nonzero");
  TG_CHECK(opts.dtype != kInt64 || (start == std::trunc(start) && end == std::trunc(end) && step == std::trunc(step)),
           "arange: start ", start, ", end ", end, ", step ", step, " are not all whole numbers, and the dtype is "
           "int64 (the default): pass {.dtype = kFloat32} or kFloat64");
  TG_CHECK((end - start) / step >= 0, "arange: the range [", start, ", ", end, ") with step ", step, " is empty the wrong way");
  const int64_t n = static_cast<int64_t>(std::ceil((end - start) / step));
  Tensor t = empty({n}, {.dtype = opts.dtype});
  visit_dtype(opts.dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.raw_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + double(i) * step);
  });
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}
Tensor arange(int64_t end) { return arange(0, double(end), 1, {.dtype = kInt64}); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  TG_CHECK(steps >= 0, "linspace: steps must be >= 0, got ", steps);
  Tensor t = empty({steps}, {.dtype = opts.dtype});
  const double step = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
  visit_dtype(opts.dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.raw_ptr<T>();
    // Like PyTorch: the second half counts back from `end` so both ends are
    // exact, and one step is `start` (it was `end`: steps / 2 is 0).
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(steps == 1          ? start
                            : i < steps / 2     ? start + step * double(i)
                                                : end - step * double(steps - 1 - i));
  });
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor eye(int64_t n, TensorOptions opts) {
  TG_CHECK(n >= 0, "eye: n must be >= 0, got ", n);
  Tensor t = zeros({n, n}, {.dtype = opts.dtype});
  visit_dtype(opts.dtype, [&](auto z) {
    using T = decltype(z);
    for (int64_t i = 0; i < n; ++i) t.raw_ptr<T>()[i * n + i] = T(1);
  });
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

namespace {
template <class T>
Tensor from_values(const std::vector<T>& values, const Shape& shape, bool requires_grad) {
  Shape s = shape.empty() ? Shape{int64_t(values.size())} : shape;
  TG_CHECK(s.numel() == int64_t(values.size()), "tensor: ", values.size(), " values do not fill shape ", s,
           " (", s.numel(), " elements)");
  Tensor t = empty(s, {.dtype = dtype_of<T>::value});
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  if (requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor tensor(const std::vector<float>& v, const Shape& s, bool rg) { return from_values(v, s, rg); }
Tensor tensor(const std::vector<double>& v, const Shape& s, bool rg) { return from_values(v, s, rg); }
Tensor tensor(const std::vector<int64_t>& v, const Shape& s) { return from_values(v, s, false); }

}  // namespace tg
