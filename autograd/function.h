// Custom differentiable functions, the way torch::autograd::Function does it:
//
//   struct Cube : tg::autograd::Function<Cube> {
//     // y = x³
//     static tg::Tensor forward(tg::autograd::FunctionCtx& ctx, const tg::Tensor& x) {
//       ctx.save_for_backward({x});
//       return x * x * x;            // runs without recording
//     }
//     // dx = 3 x² dy
//     static std::vector<tg::Tensor> backward(tg::autograd::FunctionCtx& ctx, const tg::Tensor& dy) {
//       const tg::Tensor x = ctx.saved()[0];
//       return {dy * x * x * 3.0};   // one gradient per input (undefined = none)
//     }
//   };
//   tg::Tensor y = Cube::apply(x);
#pragma once
#include <memory>
#include <cstdint>
#include <typeinfo>
#include <vector>

#include "autograd/node.h"

namespace tg::autograd {

class FunctionCtx {
 public:
  void save_for_backward(std::vector<Tensor> ts) {
    saved_ = std::move(ts);
    versions_.clear();
    for (const Tensor& t : saved_) versions_.push_back(t.defined() ? t.version() : 0);
  }
  // The saved tensors, checked as the built-in ops check theirs: one modified
  // in place since save_for_backward would give a wrong gradient silently.
  const std::vector<Tensor>& saved() const {
    for (size_t i = 0; i < saved_.size(); ++i)
      TG_CHECK(!saved_[i].defined() || saved_[i].version() == versions_[i],
               "custom Function: saved tensor ", i, " was modified by an in-place operation after "
               "save_for_backward (version ", versions_[i], " -> ", saved_[i].version(),
               "); use an out-of-place op or save a clone()");
    return saved_;
  }
  std::vector<double> scalars;  // free-form non-tensor state

 private:
  std::vector<Tensor> saved_;
  std::vector<uint32_t> versions_;
};

template <class Derived>
struct Function {
  template <class... Args>
  static Tensor apply(const Args&... args) {
    auto ctx = std::make_shared<FunctionCtx>();
    Tensor out;
    {
      NoGradGuard g;
      out = Derived::forward(*ctx, args...);
    }
    const Tensor inputs[] = {args...};
    bool any = false;
    for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
    if (!is_grad_enabled() || !any) return out;
    BackwardFn fn = [ctx](BackwardCtx& c) {
      std::vector<Tensor> g = Derived::backward(*ctx, c.dy);
      for (size_t i = 0; i < g.size() && i < c.grads.size(); ++i)
        if (g[i].defined() && c.needs(int(i))) c.accumulate(int(i), g[i]);
    };
    return record_node(typeid(Derived).name(), out, inputs, sizeof...(Args), std::move(fn), kSaveNone, nullptr, 0);
  }
};

}  // namespace tg::autograd
