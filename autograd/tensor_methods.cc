// Tensor's arithmetic methods (forwarding to the differentiable ops) and the
// in-place ops, which are not recorded: they refuse tensors that take part in
// autograd while grad mode is on, and bump the version counter so a tensor
// saved for backward cannot be silently changed.
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/raw.h"

namespace tg {

Tensor Tensor::sum() const { return tg::sum(*this); }
Tensor Tensor::mean() const { return tg::mean(*this); }
Tensor Tensor::sum(int64_t d, bool keepdim) const { return tg::sum(*this, {d}, keepdim); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return tg::sum(*this, dims, keepdim); }
Tensor Tensor::mean(int64_t d, bool keepdim) const { return tg::mean(*this, {d}, keepdim); }
Tensor Tensor::exp() const { return tg::exp(*this); }
Tensor Tensor::log() const { return tg::log(*this); }
Tensor Tensor::relu() const { return tg::relu(*this); }
Tensor Tensor::abs() const { return tg::abs(*this); }
Tensor Tensor::sqrt() const { return tg::sqrt(*this); }
Tensor Tensor::tanh() const { return tg::tanh(*this); }
Tensor Tensor::sigmoid() const { return tg::sigmoid(*this); }
Tensor Tensor::pow(double p) const { return tg::pow(*this, p); }
Tensor Tensor::argmax(int64_t d, bool keepdim) const { return tg::argmax(*this, d, keepdim); }
Tensor Tensor::max() const { return tg::max(*this); }
Tensor Tensor::min() const { return tg::min(*this); }

// In-place ops are not recorded, so with grad mode on they refuse what the
// graph would need to know about: a target that requires grad, a view of one
// made under NoGradGuard (PyTorch refuses it too), and an operand that requires
// grad (its gradient would be lost without a word).
static void check_inplace(const Tensor& t, const char* op, const Tensor* operand = nullptr) {
  TG_CHECK(t.defined(), op, ": the tensor is undefined");
  if (!is_grad_enabled()) return;
  TG_CHECK(!t.requires_grad(), op, ": in-place operation on a tensor that requires grad ",
           "(a leaf parameter or part of the graph); wrap it in tg::NoGradGuard or use the out-of-place op");
  TG_CHECK(!(t.impl()->meta && t.impl()->meta->is_no_grad_view_of_grad()), op,
           ": in-place operation with grad mode on, on a view made under tg::NoGradGuard of a tensor that requires "
           "grad; make the view and modify it under the same mode");
  TG_CHECK(!(operand && operand->requires_grad()), op,
           ": the operand requires grad, but in-place ops are not recorded, so its gradient would be lost; use the "
           "out-of-place op (a = a + b), detach() the operand or wrap it in tg::NoGradGuard");
}

Tensor& Tensor::zero_() { return fill_(0.0); }
Tensor& Tensor::operator=(const Tensor& src) && { return copy_(src); }
Tensor& Tensor::operator=(double v) && { return fill_(v); }
Tensor& Tensor::fill_(double v) {
  check_inplace(*this, "fill_");
  raw::fill_(*this, v);
  bump_version();
  return *this;
}
Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_", &src);
  raw::copy_(*this, src);
  bump_version();
  return *this;
}
Tensor& Tensor::add_(const Tensor& o, double alpha) {
  check_inplace(*this, "add_", &o);
  if (alpha == 1.0) raw::binary_(raw::BinaryOp::Add, *this, o, "add_");
  else raw::binary_(raw::BinaryOp::Add, *this, raw::binary(raw::BinaryOp::Mul, o, alpha, false, "add_"), "add_");
  return *this;
}
Tensor& Tensor::mul_(const Tensor& o) {
  check_inplace(*this, "mul_", &o);
  raw::binary_(raw::BinaryOp::Mul, *this, o, "mul_");
  return *this;
}
Tensor& Tensor::mul_(double s) {
  check_inplace(*this, "mul_");
  raw::binary_(raw::BinaryOp::Mul, *this, s, "mul_");
  return *this;
}
Tensor& Tensor::div_(const Tensor& o) {
  check_inplace(*this, "div_", &o);
  raw::binary_(raw::BinaryOp::Div, *this, o, "div_");
  return *this;
}
Tensor& Tensor::add_(double s) {
  check_inplace(*this, "add_");
  raw::binary_(raw::BinaryOp::Add, *this, s, "add_");
  return *this;
}

}  // namespace tg
