// The tape: nodes recorded by differentiable ops, and how an op records one.
//
// A Node holds the op's name, a sequence number (recording order is a
// topological order), edges to the nodes or leaves that made its inputs, the
// tensors its backward needs, and the backward function itself. A node is
// owned by its output's autograd Meta and by the nodes that consume that
// output, so the graph frees itself when the last tensor referring to it goes
// away; backward() (unless retain_graph) frees the saved tensors and backward
// functions of the nodes it ran at once, and keeps the small nodes and their
// edges until then.
//
// Writing an op (README "Design rules"):
//   // y = a * b   da = sum_to(dy * b, a.shape)   db = sum_to(dy * a, b.shape)
//   Tensor mul(const Tensor& a, const Tensor& b) {
//     return record("mul", raw::binary(BinaryOp::Mul, a, b, "mul"), {a, b}, [](BackwardCtx& c) {
//       if (c.needs(0)) c.accumulate(0, sum_to(c.dy * c.in(1), c.in_shape(0)));
//       if (c.needs(1)) c.accumulate(1, sum_to(c.dy * c.in(0), c.in_shape(1)));
//     });
//   }
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/tensor.h"

namespace tg::autograd {

struct Node;

struct Meta {
  bool requires_grad = false;
  // A view made with grad mode off of a floating tensor that has autograd
  // meta (or a view of such a view) holds its base's meta, as a PyTorch view
  // holds its base: an in-place op on the view with grad mode on is refused
  // while that base requires grad (PyTorch's "view created in no_grad mode"
  // error), so also once a frozen base is unfrozen, and however short-lived
  // the views in between were. A base that never had meta (a plain tensor
  // later given requires_grad_) is not tracked: marking every no-grad view of
  // any tensor would cost two allocations per view in inference.
  std::shared_ptr<Meta> no_grad_view_of;
  bool is_no_grad_view_of_grad() const { return no_grad_view_of && no_grad_view_of->requires_grad; }
  Tensor grad;                    // leaves: accumulated gradient
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

// A tensor kept for backward. An op's own output is kept as a plain alias
// (no autograd meta, so no reference cycle) plus a weak link to the node,
// re-attached on unpack when building a differentiable backward graph.
struct SavedTensor {
  Tensor data;
  std::weak_ptr<Node> output_of;
  uint32_t version = 0;
  Tensor unpack(bool create_graph, const char* op) const;
};

struct Edge {
  std::shared_ptr<Node> node;  // the input was made by an op
  std::shared_ptr<Meta> leaf;  // the input is a leaf that requires grad
  bool absent = false;         // the input was an undefined tensor (an optional one, e.g. linear's bias)
  bool needed() const { return node || leaf; }
};

class BackwardCtx;
using BackwardFn = std::function<void(BackwardCtx&)>;

// Vectors of tape bookkeeping come from the small-object pool, not malloc.
template <class T>
using PoolVec = std::vector<T, detail::PoolAllocator<T>>;

struct Node {
  const char* name = "";
  uint64_t seq = 0;
  PoolVec<Edge> next;
  PoolVec<Shape> in_shapes;
  PoolVec<DType> in_dtypes;
  Shape out_shape;
  DType out_dtype = kFloat32;
  PoolVec<SavedTensor> saved_inputs;
  SavedTensor saved_output;
  PoolVec<SavedTensor> extra;
  BackwardFn fn;
  bool released = false;
  uint64_t visit = 0;   // id of the last backward pass that collected this node (re-entrant passes)
  // The backward pass running through this node now (0: none). A pass claims
  // each node it collects; another thread's pass meeting a claimed node stops
  // with an error (the per-pass fields above and grad_buffer are not shared
  // safely), a pass of the same thread (a backward that calls grad()) shares it.
  std::atomic<uint64_t> busy{0};
  uint64_t needed = 0;  // grad(): id of the last pass whose inputs lie below this node (it must run)
  Tensor grad_buffer;  // used only during a backward pass
  std::string anomaly_trace;  // filled when recorded in anomaly mode
  std::weak_ptr<TensorImpl> output;  // the op's result while it lives (verbose tape printing)

  Node();
  ~Node();
  static int64_t live_count();  // nodes alive now (tests prove graphs are freed)
};

class BackwardCtx {
 public:
  BackwardCtx(Node* n, Tensor dy, bool create_graph) : dy(std::move(dy)), create_graph(create_graph), node_(n) {
    grads.resize(n->next.size());
  }
  Tensor dy;           // gradient w.r.t. the op's output
  bool create_graph;   // true when the backward itself is being recorded
  PoolVec<Tensor> grads;

  bool needs(int i) const { return node_->next[size_t(i)].needed(); }
  Tensor in(int i) const { return node_->saved_inputs[size_t(i)].unpack(create_graph, node_->name); }
  Tensor out() const { return node_->saved_output.unpack(create_graph, node_->name); }
  Tensor extra(int i) const { return node_->extra[size_t(i)].unpack(create_graph, node_->name); }
  const Shape& in_shape(int i) const { return node_->in_shapes[size_t(i)]; }
  DType in_dtype(int i) const { return node_->in_dtypes[size_t(i)]; }
  void accumulate(int i, const Tensor& g);

 private:
  Node* node_;
};

enum SaveFlags : int { kSaveNone = 0, kSaveInputs = 1, kSaveOutput = 2 };

bool any_requires_grad(std::initializer_list<Tensor> inputs);
void note_no_grad_view(const Tensor& out, const Tensor& base);
Tensor record_node(const char* name, Tensor out, const Tensor* inputs, size_t n_inputs, BackwardFn fn, int save,
                   const Tensor* extra, size_t n_extra);

// Records `out` as the result of op `name` on `inputs` when grad mode is on,
// any input requires grad and `out` is floating point (an integer result has
// no gradient, as in PyTorch: x.to(int64) on the tape rounded the gradients
// that came back through it); otherwise returns `out` untouched (the fast path).
template <class F>
Tensor record(const char* name, Tensor out, std::initializer_list<Tensor> inputs, F&& fn, int save = kSaveInputs,
              std::initializer_list<Tensor> extra = {}) {
  if (!is_grad_enabled() || !any_requires_grad(inputs) || !is_floating(out.dtype())) {
    // A view op's base is its first input; only a base with autograd meta matters.
    const Tensor& base = *inputs.begin();
    if (base.defined() && base.impl()->meta && out.defined() && !out.is_same(base) &&
        out.impl()->storage == base.impl()->storage)
      note_no_grad_view(out, base);
    return out;
  }
  return record_node(name, std::move(out), inputs.begin(), inputs.size(), BackwardFn(std::forward<F>(fn)), save,
                     extra.begin(), extra.size());
}

}  // namespace tg::autograd
