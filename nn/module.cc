// Module registration, traversal with dotted names, modes, printing, and the
// Sequential / ModuleList containers.
#include "nn/module.h"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <typeinfo>

#include "autograd/autograd.h"
#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "tensor/raw.h"

namespace tg::nn {

namespace {
void check_name(const std::string& name, const char* what, const std::string& owner) {
  TG_CHECK(!name.empty(), owner, ": ", what, " name must not be empty");
  TG_CHECK(name.find('.') == std::string::npos, owner, ": ", what, " name '", name, "' must not contain '.'");
}

std::string thousands(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(s[i]);
  }
  return out;
}

// Points every handle of `t` at the storage/layout of `src` (PyTorch's `t.data = src`).
// The version count carries over (src's storage is new, at version 0): else a
// tensor saved for backward, modified and then converted, looked unmodified.
void set_data(const Tensor& t, const Tensor& src) {
  TensorImpl* d = t.impl();
  const TensorImpl* s = src.impl();
  s->storage->version = std::max(s->storage->version, d->storage->version);
  d->storage = s->storage;
  d->shape = s->shape;
  d->strides = s->strides;
  d->offset = s->offset;
  d->dtype = s->dtype;
}
}  // namespace

Tensor Module::forward(const Tensor&) {
  detail::throw_error(type_name_, ": this module has no forward()");
}

// One name space for parameters, buffers and child modules (as PyTorch): a
// parameter and a buffer both called "x" were one key in a checkpoint, the
// buffer's values silently loaded into the parameter.
void Module::check_unique(const std::string& name, const char* what) const {
  const char* taken = nullptr;
  for (const auto& [n, p] : params_) taken = n == name ? "parameter" : taken;
  for (const auto& [n, b] : buffers_) taken = n == name ? "buffer" : taken;
  for (const auto& [n, c] : children_) taken = n == name ? "module" : taken;
  if (!taken) return;
  if (std::string(taken) == what) detail::throw_error(type_name_, ": ", what, " '", name, "' registered twice");
  detail::throw_error(type_name_, ": ", what, " '", name, "': the name is already taken by a ", taken);
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_name(name, "parameter", type_name_);
  TG_CHECK(t.defined(), type_name_, ": parameter '", name, "' is undefined");
  TG_CHECK(t.is_floating_point(), type_name_, ": parameter '", name, "' must be floating point, got ", t.dtype());
  check_unique(name, "parameter");
  // A leaf is registered as itself (as LibTorch's register_parameter: requires_grad
  // is set on that tensor, no copy), so a second name of an existing parameter ties
  // it, frozen or not (weight tying: listed once, one .grad, still tied after to());
  // only a non-leaf (the result of an op) is detached into a fresh leaf.
  if (!t.is_leaf()) t = t.detach();
  t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name, "buffer", type_name_);
  TG_CHECK(t.defined(), type_name_, ": buffer '", name, "' is undefined");
  check_unique(name, "buffer");
  t = t.detach();
  buffers_.emplace_back(name, t);
  return t;
}

namespace {
// Whether `target` is `from` or inside it (a child would then close a cycle,
// and every walk of the tree would recurse without end).
bool contains(const Module& from, const Module* target) {
  if (&from == target) return true;
  for (const auto& [n, c] : from.named_children())
    if (contains(*c, target)) return true;
  return false;
}
}  // namespace

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name, "module", type_name_);
  TG_CHECK(m != nullptr, type_name_, ": module '", name, "' is null");
  TG_CHECK(m.get() != this, type_name_, ": a module cannot be its own child");
  TG_CHECK(!contains(*m, this), type_name_, ": module '", name, "' contains this module; adding it would make a cycle");
  check_unique(name, "module");
  children_.emplace_back(name, std::move(m));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
  TG_CHECK(m != nullptr, type_name_, ": replacement for module '", name, "' is null");
  TG_CHECK(!contains(*m, this), type_name_, ": the replacement for module '", name,
           "' contains this module; it would make a cycle");
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  detail::throw_error(type_name_, ": no child module named '", name, "' to replace");
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, c] : children_)
    if (n == name) return c;
  detail::throw_error(type_name_, ": no child module named '", name, "'");
}

void Module::collect(const std::string& prefix, bool params, bool recurse, std::vector<NamedTensor>& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, true, out);
}

std::vector<NamedTensor> Module::named_parameters(bool recurse, bool remove_duplicate) const {
  std::vector<NamedTensor> out;
  collect("", true, recurse, out);
  if (!remove_duplicate) return out;
  // A module shared twice in the tree appears once, under its first name (as in PyTorch).
  std::set<const TensorImpl*> seen;
  std::vector<NamedTensor> uniq;
  for (auto& nt : out)
    if (seen.insert(nt.second.impl()).second) uniq.push_back(std::move(nt));
  return uniq;
}
std::vector<NamedTensor> Module::named_buffers(bool recurse, bool remove_duplicate) const {
  std::vector<NamedTensor> out;
  collect("", false, recurse, out);
  if (!remove_duplicate) return out;
  std::set<const TensorImpl*> seen;
  std::vector<NamedTensor> uniq;
  for (auto& nt : out)
    if (seen.insert(nt.second.impl()).second) uniq.push_back(std::move(nt));
  return uniq;
}
std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}
std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    for (const auto& [n, c] : m.children_) {
      out.emplace_back(prefix + n, c);
      walk(*c, prefix + n + ".");
    }
  };
  walk(*this, "");
  return out;
}

int64_t Module::num_parameters(bool only_trainable) const {
  int64_t n = 0;
  for (const auto& p : parameters())
    if (!only_trainable || p.requires_grad()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) autograd::zero_grad(p, set_to_none);
}

Module& Module::requires_grad_(bool on) {
  for (auto& p : parameters()) p.requires_grad_(on);
  return *this;
}

Module& Module::to(DType dtype) {
  TG_CHECK(is_floating(dtype), type_name_, ".to: parameters must stay floating point, got ", dtype);
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, t] : *list) {
      if (!t.is_floating_point() || t.dtype() == dtype) continue;
      t.set_grad(Tensor());
      set_data(t, raw::to(t, dtype));
      t.bump_version();
    }
  for (auto& [n, c] : children_) c->to(dtype);
  return *this;
}

void Module::pretty_print(std::ostream& os) const { os << type_name_ << "()"; }

namespace {
void print_tree(std::ostream& os, const Module& m, int indent) {
  const auto children = m.named_children();
  if (children.empty()) m.pretty_print(os);
  if (!children.empty()) {
    os << m.type_name() << "(\n";
    for (const auto& [n, c] : children) {
      os << std::string(size_t(indent + 2), ' ') << "(" << n << "): ";
      print_tree(os, *c, indent + 2);
      os << "\n";
    }
    os << std::string(size_t(indent), ' ') << ")";
  }
  if (indent > 0 && children.empty()) {
    const int64_t n = m.num_parameters();
    if (n > 0) os << "  # " << thousands(n) << " params";
  }
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Module& m) {
  print_tree(os, m, 0);
  return os << "  # " << thousands(m.num_parameters()) << " params (" << thousands(m.num_parameters(true))
            << " trainable)";
}

// ---------------------------------------------------------------------------
Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}
Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}
void Sequential::push_back(std::shared_ptr<Module> m) { add_child(std::to_string(children_.size()), std::move(m)); }

size_t Sequential::index(int64_t i, const char* op) const {
  const int64_t n = int64_t(children_.size());
  TG_CHECK(i >= -n && i < n, "Sequential", op, ": index ", i, " is out of range for ", n, " modules");
  return size_t(i < 0 ? i + n : i);
}
std::shared_ptr<Module> Sequential::operator[](int64_t i) const { return children_[index(i, "[]")].second; }
void Sequential::replace(int64_t i, std::shared_ptr<Module> m) {
  TG_CHECK(m != nullptr, "Sequential::replace: module is null");
  const size_t k = index(i, "::replace");
  // as replace_module: a replacement containing this module closed a cycle (walks recursed without end)
  TG_CHECK(!contains(*m, this), "Sequential::replace: the replacement for module ", k,
           " contains this module; it would make a cycle");
  children_[k].second = std::move(m);
}

// A Linear or a Conv2d followed by a ReLU (exactly those types: a subclass may
// override forward) runs as one op with the ReLU in its output pass and one tape
// node (Linear::forward_relu: the GEMM's epilogue; Conv2d::forward_relu): the
// same values and gradients, one pass over the activations and one parallel
// region fewer each way.
Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < children_.size(); ++i) {
    Module& m = *children_[i].second;
    const bool relu_next = i + 1 < children_.size() && typeid(*children_[i + 1].second) == typeid(ReLU);
    if (relu_next && typeid(m) == typeid(Linear)) {
      y = static_cast<Linear&>(m).forward_relu(y);
      ++i;
    } else if (relu_next && typeid(m) == typeid(Conv2d)) {
      y = static_cast<Conv2d&>(m).forward_relu(y);
      ++i;
    } else {
      y = m.forward(y);
    }
  }
  return y;
}

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : Module("ModuleList") {
  for (const auto& m : modules) push_back(m);
}
void ModuleList::push_back(std::shared_ptr<Module> m) { add_child(std::to_string(children_.size()), std::move(m)); }
std::shared_ptr<Module> ModuleList::operator[](int64_t i) const {
  const int64_t n = int64_t(children_.size());
  TG_CHECK(i >= -n && i < n, "ModuleList[]: index ", i, " is out of range for ", n, " modules");
  return children_[size_t(i < 0 ? i + n : i)].second;
}
void ModuleList::replace(int64_t i, std::shared_ptr<Module> m) {
  const int64_t n = int64_t(children_.size());
  TG_CHECK(i >= -n && i < n, "ModuleList::replace: index ", i, " is out of range for ", n, " modules");
  TG_CHECK(m != nullptr, "ModuleList::replace: module is null");
  const size_t k = size_t(i < 0 ? i + n : i);
  TG_CHECK(!contains(*m, this), "ModuleList::replace: the replacement for module ", k,
           " contains this module; it would make a cycle");
  children_[k].second = std::move(m);
}

}  // namespace tg::nn
