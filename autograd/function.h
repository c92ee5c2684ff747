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
// A gradient that has the broadcast shape of an input (backward returned dy
// for an input the forward broadcast) is summed to the input's shape, as
// PyTorch does; the op is named after the struct (demangled) on the tape and
// in messages.
#pragma once
#include <algorithm>
#include <iterator>
#include <memory>
#include <cstdint>
#include <cstdlib>
#include <cxxabi.h>
#include <string>
#include <typeinfo>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"

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
  // While a backward is recorded (create_graph), a saved forward output comes
  // back attached to this Function's node, as a built-in op's saved output
  // does: saved as a constant, y = exp(x)'s second derivative missed dy/dx.
  const std::vector<Tensor>& saved() const {
    std::vector<Tensor>& out = unpacked_;
    out = saved_;
    for (size_t i = 0; i < saved_.size(); ++i) {
      TG_CHECK(!saved_[i].defined() || saved_[i].version() == versions_[i],
               "custom Function: saved tensor ", i, " was modified by an in-place operation after "
               "save_for_backward (version ", versions_[i], " -> ", saved_[i].version(),
               "); use an out-of-place op or save a clone()");
      if (saved_[i].defined() && saved_[i].impl() == output_impl_)
        out[i] = SavedTensor{saved_[i], output_node_, versions_[i]}.unpack(is_grad_enabled(), "custom Function");
    }
    return out;
  }
  std::vector<double> scalars;  // free-form non-tensor state

 private:
  template <class D>
  friend struct Function;
  std::vector<Tensor> saved_;
  std::vector<uint32_t> versions_;
  // What saved() hands out, kept until the backward returns (then cleared: an
  // output attached to the node would keep the node alive through this ctx).
  mutable std::vector<Tensor> unpacked_;
  const TensorImpl* output_impl_ = nullptr;  // forward's result, as returned (before recording)
  std::weak_ptr<Node> output_node_;          // the node that records it (weak: the node owns this ctx)
};

template <class Derived>
struct Function {
  // The demangled name of Derived ("Cube", "ns::Cube"), made once.
  static const char* name() {
    static const std::string n = [] {
      int status = 0;
      char* d = abi::__cxa_demangle(typeid(Derived).name(), nullptr, nullptr, &status);
      std::string r = status == 0 && d ? d : typeid(Derived).name();
      std::free(d);
      return r;
    }();
    return n.c_str();
  }

  template <class... Args>
  static Tensor apply(const Args&... args) {
    auto ctx = std::make_shared<FunctionCtx>();
    Tensor out;
    {
      NoGradGuard g;
      out = Derived::forward(*ctx, args...);
    }
    TG_CHECK(out.defined(), "custom Function ", name(), ": forward returned an undefined tensor");
    const Tensor inputs[] = {args...};
    bool any = false;
    for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
    if (!is_grad_enabled() || !any || !is_floating(out.dtype())) return out;
    BackwardFn fn = [ctx](BackwardCtx& c) {
      struct ClearUnpacked {
        FunctionCtx& ctx;
        ~ClearUnpacked() { ctx.unpacked_.clear(); }
      } clear{*ctx};
      std::vector<Tensor> g = Derived::backward(*ctx, c.dy);
      TG_CHECK(g.size() == c.grads.size(), "custom Function ", name(), ": backward returned ",
               g.size(), " gradients for ", c.grads.size(), " inputs (one per input; undefined = none)");
      for (size_t i = 0; i < g.size(); ++i) {
        if (!g[i].defined() || !c.needs(int(i))) continue;
        const Shape& in = c.in_shape(int(i));
        // dy of a broadcast input: summed to its shape (else the engine's
        // shape check names the mismatch)
        c.accumulate(int(i), g[i].shape() != in && broadcasts_to(in, g[i].shape()) ? sum_to(g[i], in) : g[i]);
      }
    };
    // The output is attached on unpack only when it is a new tensor, not an
    // input passed through (that one is the input: re-attaching it as the
    // output gave a wrong second derivative).
    if (std::none_of(std::begin(inputs), std::end(inputs), [&](const Tensor& t) { return t.is_same(out); }))
      ctx->output_impl_ = out.impl();
    Tensor y = record_node(name(), out, inputs, sizeof...(Args), std::move(fn), kSaveNone, nullptr, 0);
    ctx->output_node_ = y.impl()->meta->grad_fn;
    return y;
  }
};

}  // namespace tg::autograd
