// The reverse-mode engine: recording nodes, Tensor's autograd methods, and
// backward (collect the nodes that reach the root, run them in reverse
// recording order, accumulate into leaves, free the graph).
#include <algorithm>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "tensor/raw.h"

namespace tg {
namespace {
thread_local bool t_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
std::atomic<int64_t> g_live_nodes{0};
std::atomic<uint64_t> g_seq{0};
}  // namespace

bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

namespace autograd {
bool is_anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_enabled(bool on) { g_anomaly = on; }

Node::Node() { g_live_nodes.fetch_add(1, std::memory_order_relaxed); }
Node::~Node() { g_live_nodes.fetch_sub(1, std::memory_order_relaxed); }
int64_t Node::live_count() { return g_live_nodes.load(); }

static Tensor alias_without_meta(const Tensor& t) {
  return make_view(t, t.shape(), t.strides(), t.offset());
}

Tensor SavedTensor::unpack(bool create_graph, const char* op) const {
  if (!data.defined()) return data;
  TG_CHECK(data.version() == version, op,
           ": a tensor saved for backward was modified by an in-place operation (version ", version, " -> ",
           data.version(), "); use an out-of-place op or clone() before modifying it");
  if (create_graph) {
    if (auto n = output_of.lock()) {
      Tensor t = alias_without_meta(data);
      t.impl()->meta = detail::make_pooled<Meta>();
      t.impl()->meta->requires_grad = true;
      t.impl()->meta->grad_fn = n;
      return t;
    }
  }
  return data;
}

void BackwardCtx::accumulate(int i, const Tensor& g) {
  if (!g.defined() || !needs(i)) return;
  Tensor& slot = grads[size_t(i)];
  slot = slot.defined() ? add(slot, g) : g;
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.impl()->meta && t.impl()->meta->requires_grad) return true;
  return false;
}

void note_no_grad_view(const Tensor& out, const Tensor& base) {
  const std::shared_ptr<Meta>& m = base.impl()->meta;
  std::shared_ptr<Meta> root = m->no_grad_view_of;  // base is itself such a view: its root
  if (!root && !is_grad_enabled() && base.is_floating_point()) root = m;
  if (!root) return;
  if (!out.impl()->meta) out.impl()->meta = detail::make_pooled<Meta>();
  out.impl()->meta->no_grad_view_of = std::move(root);
}

Tensor record_node(const char* name, Tensor out, const Tensor* inputs, size_t n_inputs, BackwardFn fn, int save,
                   const Tensor* extra, size_t n_extra) {
  auto node = detail::make_pooled<Node>();
  node->name = name;
  node->seq = g_seq.fetch_add(1, std::memory_order_relaxed);
  node->next.reserve(n_inputs);
  node->in_shapes.reserve(n_inputs);
  for (size_t k = 0; k < n_inputs; ++k) {
    const Tensor& t = inputs[k];
    Edge e;
    e.absent = !t.defined();
    if (t.defined() && t.impl()->meta && t.impl()->meta->requires_grad) {
      if (t.impl()->meta->grad_fn) e.node = t.impl()->meta->grad_fn;
      else e.leaf = t.impl()->meta;
    }
    node->next.push_back(std::move(e));
    node->in_shapes.push_back(t.defined() ? t.shape() : Shape{});
    node->in_dtypes.push_back(t.defined() ? t.dtype() : kFloat32);
    if (save & kSaveInputs) node->saved_inputs.push_back({t, {}, t.defined() ? t.version() : 0u});
  }
  for (size_t k = 0; k < n_extra; ++k) node->extra.push_back({extra[k], {}, extra[k].defined() ? extra[k].version() : 0u});
  node->out_shape = out.shape();
  node->out_dtype = out.dtype();
  node->fn = std::move(fn);
  if (is_anomaly_enabled()) {
    std::ostringstream os;
    os << "tape entry #" << node->seq << " (" << name << " ->" << out.shape() << ")";
    node->anomaly_trace = os.str();
  }
  // The output gets fresh metadata (a new impl if `out` already had some, e.g. a view of a leaf).
  if (out.impl()->meta || out.impl_ptr().use_count() > 1) out = alias_without_meta(out);
  if (save & kSaveOutput) node->saved_output = {alias_without_meta(out), node, out.version()};
  out.impl()->meta = detail::make_pooled<Meta>();
  out.impl()->meta->requires_grad = true;
  node->output = out.impl_ptr();
  out.impl()->meta->grad_fn = std::move(node);
  return out;
}

// ---------------------------------------------------------------- engine
namespace {

// The first gradient becomes the leaf's .grad without a copy only when
// nothing else can see it: later gradients are added into .grad in place.
// The handle counts too, not just the storage: add's backward hands the same
// dy to both inputs, and a tensor shared as two leaves' .grad (or as a leaf's
// .grad and a node's pending gradient) was then changed through the other.
// Under create_graph the first gradient is a recorded clone (PyTorch's
// AccumulateGrad): adopted as is, one tensor became two leaves' .grad, or the
// caller's gradient, or a tensor a recorded backward had saved, and a later
// first-order backward added into all of them.
// Threads running backward through separate graphs that share a leaf (one
// model, a graph per thread) add into its .grad one at a time: a lock per leaf,
// taken from a fixed table by address (unlocked, contributions were lost).
// A leaf whose requires_grad was turned off after the graph was built gets no
// gradient (as PyTorch): frozen between forward and backward, it is not updated.
void accumulate_leaf(Meta& m, const Tensor& g, bool create_graph) {
  if (!m.requires_grad) return;
  static std::mutex locks[64];
  std::lock_guard<std::mutex> lock(locks[(reinterpret_cast<uintptr_t>(&m) >> 6) % 64]);
  if (!m.grad.defined()) {
    if (create_graph) m.grad = g.clone();
    else if (!g.is_contiguous() || g.impl_ptr().use_count() > 1 || g.impl()->storage.use_count() > 1 ||
             g.impl()->meta)
      m.grad = raw::clone(g);
    else m.grad = g;
    return;
  }
  if (create_graph) m.grad = add(m.grad, g);
  else raw::binary_(raw::BinaryOp::Add, m.grad, g, "backward");
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph,
                  bool create_graph, const std::vector<Tensor>* capture_inputs, std::vector<Tensor>* captured) {
  // Map captured inputs: leaves by Meta, non-leaves by their node.
  std::vector<Meta*> cap_leaf;
  std::vector<Node*> cap_node;
  if (capture_inputs) {
    captured->assign(capture_inputs->size(), Tensor());
    for (const Tensor& t : *capture_inputs) {
      Meta* m = t.defined() ? t.impl()->meta.get() : nullptr;
      TG_CHECK(m && m->requires_grad, "grad: an input does not require grad");
      cap_leaf.push_back(m->grad_fn ? nullptr : m);
      cap_node.push_back(m->grad_fn.get());
    }
  }
  // Collect every node reachable from the roots.
  std::vector<std::shared_ptr<Node>> nodes;  // owning: releasing edges must not free a node still in the list
  static std::atomic<uint64_t> g_pass{0};
  const uint64_t pass = ++g_pass;
  // The passes this thread is running (a backward that calls grad() nests them).
  thread_local std::vector<uint64_t> t_active;
  t_active.push_back(pass);
  struct PopActive {
    ~PopActive() { t_active.pop_back(); }
  } pop_active;
  // Claims n for this pass; true on its first visit in this pass.
  auto first_visit = [pass](Node* n) {
    uint64_t owner = 0;
    if (n->busy.compare_exchange_strong(owner, pass, std::memory_order_acquire)) return true;
    if (owner == pass) return false;
    TG_CHECK(std::find(t_active.begin(), t_active.end(), owner) != t_active.end(),
             "backward: another thread is running a backward pass through this graph (op '", n->name,
             "'); concurrent passes need separate graphs (one forward per thread)");
    if (n->visit == pass) return false;  // shared with an enclosing pass of this thread
    n->visit = pass;
    return true;
  };
  std::vector<std::shared_ptr<Node>> stack;
  // A backward that throws (a saved tensor modified in place, anomaly mode)
  // must not leave partial sums in the nodes' grad buffers: the next backward
  // through those nodes added them in.
  // Every node with a buffer is on `stack` (the roots' nodes) or in `nodes`.
  // Either way, the nodes this pass claimed are released at its end.
  struct ClearBuffersOnThrow {
    std::vector<std::shared_ptr<Node>>& a;
    std::vector<std::shared_ptr<Node>>& b;
    uint64_t pass;
    bool done = false;
    ~ClearBuffersOnThrow() {
      for (auto* v : {&a, &b})
        for (auto& n : *v) {
          if (!done) n->grad_buffer = Tensor();
          uint64_t mine = pass;
          n->busy.compare_exchange_strong(mine, 0, std::memory_order_release);
        }
    }
  } clear_on_throw{stack, nodes, pass};
  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    TG_CHECK(root.defined() && root.requires_grad(), "backward: the tensor does not require grad and has no grad_fn; "
             "did you forget requires_grad_() on an input, or run under NoGradGuard?");
    Meta* m = root.impl()->meta.get();
    if (!m->grad_fn) {  // the root is a leaf itself
      if (capture_inputs) {
        for (size_t k = 0; k < cap_leaf.size(); ++k)
          if (cap_leaf[k] == m) (*captured)[k] = (*captured)[k].defined() ? add((*captured)[k], grad_roots[r]) : grad_roots[r];
      } else {
        accumulate_leaf(*m, grad_roots[r], create_graph);
      }
      continue;
    }
    const std::shared_ptr<Node>& n = m->grad_fn;
    TG_CHECK(!n->released, "backward: trying to backward through the graph a second time (op '", n->name,
             "'); its saved tensors were freed. Pass retain_graph=true to the first backward if you need to.");
    const bool first = first_visit(n.get());  // claimed before its buffer is touched
    n->grad_buffer = n->grad_buffer.defined() ? add(n->grad_buffer, grad_roots[r]) : grad_roots[r];
    if (first) stack.push_back(n);
  }
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    for (const Edge& e : n->next)
      if (e.node && first_visit(e.node.get())) stack.push_back(e.node);
    nodes.push_back(std::move(n));
  }
  std::sort(nodes.begin(), nodes.end(), [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) { return a->seq > b->seq; });
  // grad(): only the nodes with a requested input below them run (PyTorch's
  // "needed" pass); the rest of the graph is neither run nor freed (grad of
  // an intermediate ran and freed everything below it). A node's inputs have
  // smaller sequence numbers, so one sweep in increasing order decides.
  // Whether a node runs is kept here, not on the node: a backward that calls
  // grad() itself (re-entrant) makes its own pass over shared nodes.
  // (backward() runs every node: no vector, no allocation on the training path)
  std::vector<char> runs;
  if (capture_inputs) {
    runs.resize(nodes.size());
    auto needed = [pass](const Node* n) { return n->needed == pass; };
    for (size_t k = nodes.size(); k-- > 0;) {
      Node* n = nodes[k].get();
      bool below = false;
      for (const Edge& e : n->next)
        below = below || (e.node && needed(e.node.get())) ||
                (e.leaf && std::find(cap_leaf.begin(), cap_leaf.end(), e.leaf.get()) != cap_leaf.end());
      if (below || std::find(cap_node.begin(), cap_node.end(), n) != cap_node.end()) n->needed = pass;
      runs[k] = below;  // nothing requested below: not run, not freed
    }
  }

  {
    EnableGradGuard mode(create_graph);
    for (size_t k = 0; k < nodes.size(); ++k) {
      Node* n = nodes[k].get();
      if (!n->grad_buffer.defined()) continue;
      Tensor dy = std::move(n->grad_buffer);
      n->grad_buffer = Tensor();
      if (capture_inputs)
        for (size_t k = 0; k < cap_node.size(); ++k)
          if (cap_node[k] == n) (*captured)[k] = dy;
      if (!runs.empty() && !runs[k]) continue;
      TG_CHECK(!n->released, "backward: trying to backward through the graph a second time (op '", n->name,
               "'); its saved tensors were freed. Pass retain_graph=true to the first backward if you need to.");
      BackwardCtx ctx(n, dy, create_graph);
      n->fn(ctx);
      for (size_t i = 0; i < n->next.size(); ++i) {
        Tensor& g = ctx.grads[i];
        if (!g.defined()) continue;
        TG_CHECK(g.shape() == n->in_shapes[i], "backward of '", n->name, "': gradient for input ", i, " has shape ",
                 g.shape(), ", expected ", n->in_shapes[i]);
        // a gradient in another dtype than its input's (a custom Function's
        // float32 gradient of a float64 input) is converted, as PyTorch does
        if (g.dtype() != n->in_dtypes[i]) g = g.to(n->in_dtypes[i]);
        if (is_anomaly_enabled() && raw::has_non_finite(g))
          detail::throw_error("anomaly: the backward of '", n->name, "' produced NaN or Inf in the gradient of input ",
                              i, "; the op was recorded at ",
                              n->anomaly_trace.empty() ? std::string("(not recorded in anomaly mode)") : n->anomaly_trace);
        const Edge& e = n->next[i];
        if (e.node) {
          e.node->grad_buffer = e.node->grad_buffer.defined() ? add(e.node->grad_buffer, g) : g;
        } else if (e.leaf) {
          if (capture_inputs) {
            for (size_t k = 0; k < cap_leaf.size(); ++k)
              if (cap_leaf[k] == e.leaf.get()) (*captured)[k] = (*captured)[k].defined() ? add((*captured)[k], g) : g;
          } else {
            accumulate_leaf(*e.leaf, g, create_graph);
          }
        }
      }
    }
  }
  clear_on_throw.done = true;
  // Freeing keeps the edges (as PyTorch): a later grad() through a freed node
  // must still see what lies below it to report "a second time" (without
  // them it found nothing below and called the input unused).
  if (!retain_graph) {
    for (size_t k = 0; k < nodes.size(); ++k) {
      if (!runs.empty() && !runs[k]) continue;
      Node* n = nodes[k].get();
      n->released = true;
      n->fn = nullptr;
      n->saved_inputs.clear();
      n->saved_output = {};
      n->extra.clear();
    }
  }
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, const GradOptions& o) {
  TG_CHECK(!outputs.empty(), "grad: no outputs given");
  std::vector<Tensor> gr = o.grad_outputs;
  if (gr.empty())
    for (const Tensor& y : outputs) {
      TG_CHECK(y.numel() == 1, "grad: output of shape ", y.shape(), " is not a scalar; pass grad_outputs");
      gr.push_back(ones_like(y));
    }
  TG_CHECK(gr.size() == outputs.size(), "grad: ", outputs.size(), " outputs but ", gr.size(), " grad_outputs");
  for (size_t k = 0; k < gr.size(); ++k) {  // a [1] gradient for a [3] output was broadcast silently
    TG_CHECK(gr[k].defined() && outputs[k].defined(), "grad: output ", k, " or its grad_output is undefined");
    TG_CHECK(gr[k].shape() == outputs[k].shape(), "grad: grad_outputs[", k, "] has shape ", gr[k].shape(),
             ", its output has shape ", outputs[k].shape());
    if (gr[k].dtype() != outputs[k].dtype()) gr[k] = gr[k].to(outputs[k].dtype());
  }
  std::vector<Tensor> captured;
  run_backward(outputs, gr, o.retain_graph || o.create_graph, o.create_graph, &inputs, &captured);
  for (size_t k = 0; k < captured.size(); ++k) {
    if (!captured[k].defined()) {
      TG_CHECK(o.allow_unused, "grad: input ", k, " was not used to compute the outputs; pass allow_unused = true");
    } else if (!o.create_graph) {
      captured[k] = captured[k].detach();
    }
  }
  return captured;
}

// ---------------------------------------------------------------- tape printing
static std::vector<Node*> collect(const Tensor& root, const char* op) {
  std::vector<Node*> nodes;
  if (!root.defined() || !root.impl()->meta || !root.impl()->meta->grad_fn) return nodes;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack{root.impl()->meta->grad_fn.get()};
  seen.insert(stack.back());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    // backward() frees the graph (its edges): what is left cannot be printed
    TG_CHECK(!n->released, op, ": the graph of this tensor was freed by backward() (op '", n->name,
             "'); print it before backward(), or pass retain_graph = true");
    nodes.push_back(n);
    for (const Edge& e : n->next)
      if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node.get());
  }
  std::sort(nodes.begin(), nodes.end(), [](Node* a, Node* b) { return a->seq < b->seq; });
  return nodes;
}

Tape tape(const Tensor& root, bool verbose) {
  Tape t;
  t.verbose = verbose;
  for (Node* n : collect(root, "tape")) {
    TapeEntry e{n->seq, n->name, std::vector<Shape>(n->in_shapes.begin(), n->in_shapes.end()), n->out_shape, {}, {}, {}};
    for (const Edge& ed : n->next) {
      if (ed.node) e.inputs.push_back(std::string(1, '#').append(std::to_string(ed.node->seq)));
      else e.inputs.emplace_back(ed.leaf ? "leaf" : ed.absent ? "none" : "const");
      if (verbose) e.leaf_grads.push_back(ed.leaf ? ed.leaf->grad : Tensor());
    }
    if (verbose)
      if (auto impl = n->output.lock()) e.value = make_view(Tensor(impl), impl->shape, impl->strides, impl->offset);
    t.entries.push_back(std::move(e));
  }
  return t;
}

std::ostream& operator<<(std::ostream& os, const Tape& t) {
  os << "tape (" << t.entries.size() << " ops, execution order):\n";
  for (const TapeEntry& e : t.entries) {
    os << "  #" << e.seq << "  " << e.op << "(";
    for (size_t i = 0; i < e.in_shapes.size(); ++i)
      if (e.inputs[i] == "none") os << (i ? ", " : "") << "none";  // an absent optional input has no shape
      else os << (i ? ", " : "") << e.inputs[i] << ":" << e.in_shapes[i];
    os << ") -> " << e.out_shape << "\n";
    if (!t.verbose) continue;
    if (e.value.defined()) os << "      value: " << e.value << "\n";
    for (size_t i = 0; i < e.leaf_grads.size(); ++i)
      if (e.leaf_grads[i].defined()) os << "      grad of leaf input " << i << ": " << e.leaf_grads[i] << "\n";
  }
  return os;
}

std::string to_dot(const Tensor& root) {
  std::ostringstream os;
  os << "digraph tape {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n";
  int leaf_id = 0;
  for (Node* n : collect(root, "to_dot")) {
    os << "  n" << n->seq << " [shape=box,label=\"#" << n->seq << " " << n->name << "\\n" << n->out_shape << "\"];\n";
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      if (e.node) os << "  n" << e.node->seq << " -> n" << n->seq << ";\n";
      else if (e.leaf) {
        os << "  l" << leaf_id << " [shape=ellipse,label=\"leaf\\n" << n->in_shapes[i] << "\"];\n";
        os << "  l" << leaf_id++ << " -> n" << n->seq << ";\n";
      }
    }
  }
  os << "}\n";
  return os.str();
}

}  // namespace autograd

// ---------------------------------------------------------------- Tensor's autograd methods
bool Tensor::requires_grad() const { return impl_ && impl_->meta && impl_->meta->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  TG_CHECK(defined(), "requires_grad_: the tensor is undefined");
  if (on) TG_CHECK(is_floating_point(), "requires_grad_: only floating-point tensors can require grad, got ", dtype());
  if (impl_->meta && impl_->meta->grad_fn) {
    TG_CHECK(on, "requires_grad_(false): only leaf tensors can change requires_grad; use detach() on a non-leaf");
    return *this;
  }
  if (!impl_->meta) {
    if (!on) return *this;
    impl_->meta = detail::make_pooled<autograd::Meta>();
  }
  impl_->meta->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !checked()->meta || !impl_->meta->grad_fn; }

Tensor Tensor::grad() const { return checked()->meta ? impl_->meta->grad : Tensor(); }

void autograd::zero_grad(Tensor t, bool set_to_none) {
  Tensor g = t.grad();
  if (!g.defined()) return;
  if (set_to_none) {
    t.set_grad(Tensor());
    return;
  }
  // PyTorch: p.grad.detach_() (or requires_grad_(False)), then zero_(): the
  // same tensor, so handles to the old gradient see the zeros too. Only its
  // link to a graph goes; its own .grad (a leaf's) stays, as in PyTorch.
  if (const std::shared_ptr<autograd::Meta>& m = g.impl()->meta) {
    m->grad_fn.reset();
    m->requires_grad = false;
  }
  NoGradGuard ng;
  g.zero_();
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    TG_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient of shape ", g.shape(), " and dtype ",
             g.dtype(), " does not match the tensor's ", shape(), " ", dtype());
  }
  if (!checked()->meta) {
    if (!g.defined()) return;
    impl_->meta = detail::make_pooled<autograd::Meta>();
  }
  impl_->meta->grad = g;
}

Tensor Tensor::detach() const { return autograd::alias_without_meta(*this); }

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  TG_CHECK(defined(), "backward: the tensor is undefined");
  TG_CHECK(requires_grad(), "backward: the tensor does not require grad and has no grad_fn (nothing it was computed ",
           "from requires grad, or it was computed under NoGradGuard)");
  Tensor g = grad;
  if (!g.defined()) {
    TG_CHECK(numel() == 1, "backward: grad can be implicitly created only for scalar outputs; this tensor has shape ",
             shape(), ", so pass a gradient of that shape");
    g = ones_like(*this);
  }
  TG_CHECK(g.shape() == shape(), "backward: gradient of shape ", g.shape(), " does not match the tensor's shape ", shape());
  if (g.dtype() != dtype()) g = g.to(dtype());  // as PyTorch (a float32 .grad of a float64 leaf broke the next backward)
  autograd::run_backward({*this}, {g}, retain_graph || create_graph, create_graph, nullptr, nullptr);
}

}  // namespace tg
