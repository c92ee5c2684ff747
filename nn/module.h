// tg::nn::Module: the base of every layer, and the containers Sequential and
// ModuleList.
//
// A module registers its parameters (tensors that require grad and that the
// optimizer updates), its buffers (state saved in checkpoints but not trained,
// e.g. BatchNorm's running_mean) and its child modules, each under a name.
// named_parameters()/named_buffers() walk the tree in registration order and
// join names with dots exactly like PyTorch's state_dict keys ("fc1.weight",
// "features.0.bias"; a Sequential names its children 0, 1, 2, ...), which is
// what makes checkpoints interchangeable with PyTorch.
//
// Modules are held by std::shared_ptr (children are shared, so a backbone can
// be shared between models), e.g.
//   tg::nn::Sequential net({std::make_shared<tg::nn::Linear>(784, 256),
//                           std::make_shared<tg::nn::ReLU>(),
//                           std::make_shared<tg::nn::Linear>(256, 10)});
//   net.replace(2, std::make_shared<tg::nn::Linear>(256, 5));   // a new head
// A parameter's Tensor handle stays valid for the module's life: loading a
// checkpoint copies into it, and to(dtype) converts it in place, so optimizers
// built from parameters() keep working.
#pragma once
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace tg::nn {

using NamedTensor = std::pair<std::string, Tensor>;

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. The default throws (containers such as ModuleList have none).
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }

  // ---- parameters, buffers, children (registration order; dotted names) ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  // remove_duplicate = false lists a tensor registered under several names under
  // each of them (PyTorch's remove_duplicate; a checkpoint's aliases).
  std::vector<NamedTensor> named_parameters(bool recurse = true, bool remove_duplicate = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<NamedTensor> named_buffers(bool recurse = true, bool remove_duplicate = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Every descendant (depth first, pre-order) with its dotted path; not the module itself.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;
  std::shared_ptr<Module> child(const std::string& name) const;  // throws when absent
  int64_t num_parameters(bool only_trainable = false) const;

  // ---- registration (for custom modules and the layers themselves) ----
  // Returns the handle the module keeps; requires_grad is set on it. A leaf tensor is
  // kept itself, as in LibTorch (registering an existing parameter again ties it); the
  // result of an op is detached first.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // Swaps the child registered as `name` (which must exist) for `m`.
  void replace_module(const std::string& name, std::shared_ptr<Module> m);

  // ---- modes and gradients ----
  virtual void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad(bool set_to_none = true);
  // requires_grad_(false) freezes every parameter of the module and its children.
  Module& requires_grad_(bool on = true);
  // Converts every floating parameter and buffer to `dtype` in place (handles stay valid;
  // gradients are dropped). Integer buffers (num_batches_tracked) are kept.
  Module& to(DType dtype);

  // One line describing a leaf module, e.g. "Linear(in_features=784, out_features=256, bias=true)".
  virtual void pretty_print(std::ostream& os) const;

 protected:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;

 private:
  void collect(const std::string& prefix, bool params, bool recurse, std::vector<NamedTensor>& out) const;
  // name must not be any parameter's, buffer's or child module's yet
  void check_unique(const std::string& name, const char* what) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<NamedTensor> params_;
  std::vector<NamedTensor> buffers_;
};

// The module tree, like PyTorch's repr, with parameter counts:
//   Sequential(
//     (0): Linear(in_features=784, out_features=256, bias=true)  # 200,960 params
//     (1): ReLU()
//   )  # 200,960 params (200,960 trainable)
std::ostream& operator<<(std::ostream& os, const Module& m);

// Runs its children in order: y = m_k(... m_1(m_0(x))). Children are named 0, 1, 2, ...
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);

  Tensor forward(const Tensor& x) override;
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return children_.size(); }
  // i may be negative (from the end, like Python): seq[-1] is the last module.
  std::shared_ptr<Module> operator[](int64_t i) const;
  // The i-th module as type M; throws when it is something else.
  template <class M>
  std::shared_ptr<M> at(int64_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    TG_CHECK(m, "Sequential::at: module ", i, " is a ", (*this)[i]->type_name(), ", not the requested type");
    return m;
  }
  // Replaces module i (keeps its name, so checkpoint keys stay "i.weight", ...).
  void replace(int64_t i, std::shared_ptr<Module> m);

 private:
  size_t index(int64_t i, const char* op) const;
};

// A list of modules with PyTorch's names (0, 1, ...); no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> operator[](int64_t i) const;
  void replace(int64_t i, std::shared_ptr<Module> m);
};

}  // namespace tg::nn
