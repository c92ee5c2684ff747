// The autograd entry points besides Tensor::backward: functional grad (with
// create_graph for higher-order derivatives), the printable tape and DOT graph.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/tensor.h"

namespace tg::autograd {

struct GradOptions {
  std::vector<Tensor> grad_outputs;  // default: ones for scalar outputs
  bool retain_graph = false;         // default: same as create_graph
  bool create_graph = false;         // record the backward, so the result is differentiable
  bool allow_unused = false;         // an input the outputs do not depend on gets an undefined tensor
};

// d(sum of outputs · grad_outputs) / d(inputs), without touching any .grad.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& opts = {});

// zero_grad() for one tensor (Module::zero_grad and the optimizers'): with
// set_to_none its .grad is dropped; otherwise the same tensor is detached in
// place (when a create_graph backward made it part of a graph, it no longer
// keeps that graph alive nor chains the next backward onto it) and zeroed, as
// PyTorch's detach_() + zero_(): handles to the old gradient see the zeros.
void zero_grad(Tensor t, bool set_to_none);  // t: a handle (shares the tensor)

// The engine behind Tensor::backward and grad().
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph,
                  bool create_graph, const std::vector<Tensor>* capture_inputs, std::vector<Tensor>* captured);

// The tape that produced `root`, in execution order: `std::cout << tape(loss)`.
// Verbose mode also prints each op's output values (while the output tensor
// lives) and, after backward, the gradients accumulated into leaf inputs.
// Print the tape before backward() or pass retain_graph, since backward frees
// the graph's edges.
struct TapeEntry {
  uint64_t seq;
  std::string op;
  std::vector<Shape> in_shapes;
  Shape out_shape;
  std::vector<std::string> inputs;  // "#12" for a node, "leaf" for a leaf, "const" for a constant, "none" for an absent optional input
  Tensor value;                     // verbose: the op's output, if still alive
  std::vector<Tensor> leaf_grads;   // verbose: .grad of each leaf input (undefined for others)
};
struct Tape {
  std::vector<TapeEntry> entries;
  bool verbose = false;
};
Tape tape(const Tensor& root, bool verbose = false);
std::ostream& operator<<(std::ostream& os, const Tape& t);
// Graphviz DOT of the graph behind `root` (ops as boxes, leaves as ellipses).
std::string to_dot(const Tensor& root);

}  // namespace tg::autograd
