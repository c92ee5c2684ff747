// tg::optim::Optimizer: parameter groups, per-parameter state and the step
// loop shared by SGD, Adam, AdamW, RMSprop and Adagrad.
//
// Semantics follow torch.optim (1.13, foreach=False):
// - An optimizer owns parameter groups; each group has its own options (a
//   plain aggregate struct such as AdamOptions). A parameter may appear in
//   only one group. add_param_group() appends a group (with the defaults, or
//   with options of its own).
// - step() updates every parameter that has a gradient, in place, through raw
//   pointers (never recorded on the tape, bumps the parameter's version).
//   Parameters without a gradient are skipped and get no state. The update of
//   one parameter is one fused kernel pass (tensor/kernels/optim.h); large
//   parameter sets are split over threads with tg::parallel_for; every
//   update is elementwise, so results are bit-identical for any thread count.
// - zero_grad(set_to_none = true) drops the gradients (or zeroes them).
// - State is created lazily on the first step of a parameter and can be
//   saved and restored (state_dict / load_state_dict, or save/load to a
//   safetensors file with optim/state_io.h) so training resumes exactly.
//
// Schedulers (optim/scheduler.h) see an optimizer only through the abstract
// interface below: the number of groups and each group's lr and momentum
// (SGD/RMSprop `momentum`, Adam/AdamW `betas.first`).
#pragma once
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace tg::optim {

// What OneCycleLR cycles together with the learning rate.
enum class MomentumKind { None, Momentum, Beta1 };

// A snapshot of an optimizer's state: the moment tensors keyed
// "state.<k>.<name>" (k = the parameter's position counting through all groups
// in order), and everything scalar (options of every group, step counts) as
// string metadata. This is exactly what goes into a safetensors file.
struct OptimizerState {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// The interface schedulers, training loops and checkpoints talk to.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual const char* name() const = 0;  // "SGD", "Adam", ...
  virtual void step() = 0;
  virtual void zero_grad(bool set_to_none = true) = 0;
  virtual size_t num_param_groups() const = 0;
  virtual double lr(size_t group) const = 0;
  virtual void set_lr(size_t group, double lr) = 0;
  virtual MomentumKind momentum_kind() const = 0;
  virtual double momentum(size_t group) const = 0;  // throws when momentum_kind() is None
  virtual void set_momentum(size_t group, double value) = 0;
  virtual std::vector<Tensor> parameters() const = 0;  // every group, in order
  virtual OptimizerState state_dict() const = 0;
  virtual void load_state_dict(const OptimizerState& state) = 0;

  // PyTorch's group['initial_lr']: a group's lr when the first scheduler took
  // it, kept so that chained schedulers share one base (each used to take the
  // lr the one before had already changed). OneCycleLR sets it.
  double initial_lr(size_t group) {
    std::optional<double>& v = initial_lr_slot(group);
    if (!v) v = lr(group);
    return *v;
  }
  void set_initial_lr(size_t group, double v) { initial_lr_slot(group) = v; }

 private:
  std::optional<double>& initial_lr_slot(size_t group) {
    if (initial_lr_.size() <= group) initial_lr_.resize(group + 1);
    return initial_lr_[group];
  }
  std::vector<std::optional<double>> initial_lr_;
};

template <class Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options;
};

// The largest step count (and scheduler epoch or step count) a loaded state
// may hold: 2^53, so that the loaded double(count) is exact and counting on is
// far from overflow.
inline constexpr int64_t kMaxLoadedCount = int64_t(1) << 53;

namespace detail {
std::string format_double(double v);  // shortest text that parses back to the same bits
double parse_double(const std::string& s, const std::string& key);
int64_t parse_int(const std::string& s, const std::string& key);
const std::string& require_key(const std::map<std::string, std::string>& m, const std::string& key,
                               const char* optimizer);
void check_param(const Tensor& p, const char* optimizer, size_t group, size_t index);
// A loaded running average of squares (Adam's exp_avg_sq, RMSprop's square_avg,
// Adagrad's sum) with a negative entry is damaged: its square root is NaN.
void check_nonnegative_state(const Tensor& t, const char* optimizer, const std::string& key);
// Runs fn(item, lo, hi) over every element range of `numels`, serially for a
// small total, else with thread p of n taking the p-th n-th of every item
// (fn must be elementwise: the split depends on the thread count).
void for_each_chunk(const std::vector<int64_t>& numels,
                    const std::function<void(size_t, int64_t, int64_t)>& fn);
}  // namespace detail

// The shared machinery. Options provides `void validate() const` and
// `visit(f)` calling f(name, field) for each double/bool field; State provides
// `int64_t step` and `visit(f)` calling f(name, Tensor&) for each buffer.
// A concrete optimizer implements begin_param (serial: create state, count the
// step) and update (one chunk [lo, hi) of one parameter's elements).
template <class Options, class State>
class OptimizerBase : public Optimizer {
 public:
  using Group = ParamGroup<Options>;

  // `name` is the optimizer's (a string literal): virtual name() cannot be
  // called while the base is being constructed.
  OptimizerBase(const char* name, std::vector<Tensor> params, Options defaults)
      : name_(name), defaults_(defaults) {
    defaults_.validate();
    TG_CHECK(!params.empty(), name, ": got an empty parameter list");
    add_param_group(std::move(params), defaults_);
  }
  OptimizerBase(const char* name, std::vector<Group> groups, Options defaults)
      : name_(name), defaults_(defaults) {
    // defaults_ is validated when add_param_group(params) first uses it.
    TG_CHECK(!groups.empty(), name, ": got an empty list of parameter groups");
    for (auto& g : groups) add_param_group(std::move(g.params), g.options);
  }

  void add_param_group(std::vector<Tensor> params) { add_param_group(std::move(params), defaults_); }
  void add_param_group(std::vector<Tensor> params, Options options) {
    options.validate();
    const size_t gi = groups_.size();
    std::unordered_set<const TensorImpl*> in_this_group;
    for (size_t i = 0; i < params.size(); ++i) {
      detail::check_param(params[i], name(), gi, i);
      const TensorImpl* key = params[i].impl();
      TG_CHECK(!in_this_group.count(key), name(), ": parameter ", i, " of group ", gi,
               " appears twice in the same group");
      TG_CHECK(!owner_.count(key), name(), ": parameter ", i, " of group ", gi,
               " is already in group ", owner_.count(key) ? owner_.at(key) : 0,
               "; a parameter may belong to only one group");
      in_this_group.insert(key);
    }
    for (const auto& p : params) owner_[p.impl()] = gi;
    groups_.push_back(Group{std::move(params), options});
  }

  const char* name() const override { return name_; }
  std::vector<Group>& param_groups() { return groups_; }
  const std::vector<Group>& param_groups() const { return groups_; }
  const Options& defaults() const { return defaults_; }
  // The state of one parameter, or null before its first step.
  const State* state(const Tensor& p) const {
    auto it = state_.find(p.impl());
    return it == state_.end() ? nullptr : &it->second;
  }

  void zero_grad(bool set_to_none = true) override {
    for (auto& g : groups_)
      for (auto& p : g.params) autograd::zero_grad(p, set_to_none);
  }

  void step() override {
    NoGradGuard no_grad;
    struct Item {
      const Options* options;
      State* state;
      Tensor param;
      Tensor grad;
    };
    std::vector<Item> items;
    std::vector<int64_t> numels;
    for (auto& g : groups_) {
      for (auto& p : g.params) {
        Tensor gr = p.grad();
        if (!gr.defined()) continue;
        TG_CHECK(gr.shape() == p.shape(), name(), ".step: gradient of shape ", gr.shape(),
                 " does not match its parameter of shape ", p.shape());
        TG_CHECK(gr.dtype() == p.dtype(), name(), ".step: gradient dtype ", gr.dtype(),
                 " does not match its parameter's dtype ", p.dtype());
        TG_CHECK(p.is_contiguous(), name(), ".step: parameter of shape ", p.shape(),
                 " is not contiguous");
        if (!gr.is_contiguous()) gr = gr.contiguous();
        items.push_back(Item{&g.options, nullptr, p, gr});
        numels.push_back(p.numel());
      }
    }
    // Every parameter is checked before any state changes: a bad gradient
    // on a later parameter left the earlier ones' step counts advanced.
    for (Item& it : items) {
      State& s = state_[it.param.impl()];
      // A parameter converted in place (Module::to) keeps its state, converted
      // to the parameter's dtype (the kernels read both as one type).
      s.visit([&](const char*, Tensor& t) {
        if (t.defined() && t.dtype() != it.param.dtype()) t = t.to(it.param.dtype());
      });
      begin_param(*it.options, s, it.param);
      it.state = &s;
    }
    detail::for_each_chunk(numels, [&](size_t i, int64_t lo, int64_t hi) {
      const Item& it = items[i];
      update(*it.options, *it.state, it.param, it.grad, lo, hi);
    });
    for (auto& it : items) it.param.bump_version();
  }

  size_t num_param_groups() const override { return groups_.size(); }
  double lr(size_t g) const override { return group_at(g).options.lr; }
  void set_lr(size_t g, double lr) override { group_at(g).options.lr = lr; }
  MomentumKind momentum_kind() const override {
    if constexpr (requires(Options o) { o.betas.first; }) return MomentumKind::Beta1;
    else if constexpr (requires(Options o) { o.momentum; }) return MomentumKind::Momentum;
    else return MomentumKind::None;
  }
  double momentum(size_t g) const override {
    const Options& o = group_at(g).options;
    if constexpr (requires { o.betas.first; }) return o.betas.first;
    else if constexpr (requires { o.momentum; }) return o.momentum;
    else tg::detail::throw_error(name(), " has no momentum or beta1 to read");
  }
  void set_momentum(size_t g, double value) override {
    Options& o = group_at(g).options;
    if constexpr (requires { o.betas.first; }) o.betas.first = value;
    else if constexpr (requires { o.momentum; }) o.momentum = value;
    else tg::detail::throw_error(name(), " has no momentum or beta1 to set");
  }
  std::vector<Tensor> parameters() const override {
    std::vector<Tensor> out;
    for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
  }

  OptimizerState state_dict() const override {
    OptimizerState out;
    out.metadata["optimizer"] = name();
    out.metadata["param_groups"] = std::to_string(groups_.size());
    int64_t k = 0;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      const Group& g = groups_[gi];
      const std::string gp = "group." + std::to_string(gi) + ".";
      Options o = g.options;
      o.visit([&](const char* field, auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) out.metadata[gp + field] = v ? "true" : "false";
        else out.metadata[gp + field] = detail::format_double(v);
      });
      out.metadata[gp + "num_params"] = std::to_string(g.params.size());
      for (const auto& p : g.params) {
        const std::string sp = "state." + std::to_string(k++) + ".";
        auto it = state_.find(p.impl());
        if (it == state_.end()) continue;
        State s = it->second;
        out.metadata[sp + "step"] = std::to_string(s.step);
        // copies: a snapshot stays what it was after more steps (the live
        // buffers are updated in place)
        s.visit([&](const char* buf, Tensor& t) {
          if (t.defined()) out.tensors[sp + buf] = t.clone();
        });
      }
    }
    return out;
  }

  void load_state_dict(const OptimizerState& in) override {
    const auto& md = in.metadata;
    const std::string& who = detail::require_key(md, "optimizer", name());
    TG_CHECK(who == name(), name(), ".load_state_dict: the state was saved by ", who);
    const int64_t ngroups = detail::parse_int(detail::require_key(md, "param_groups", name()), "param_groups");
    TG_CHECK(ngroups == int64_t(groups_.size()), name(), ".load_state_dict: the state has ", ngroups,
             " parameter groups, this optimizer has ", groups_.size());
    // Parse everything first, then commit, so a bad file leaves the optimizer untouched.
    std::vector<Options> options(groups_.size());
    std::unordered_map<const TensorImpl*, State> state;
    int64_t k = 0;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      const std::string gp = "group." + std::to_string(gi) + ".";
      const int64_t np = detail::parse_int(detail::require_key(md, gp + "num_params", name()), gp + "num_params");
      TG_CHECK(np == int64_t(groups_[gi].params.size()), name(), ".load_state_dict: group ", gi,
               " has ", np, " parameters in the state, ", groups_[gi].params.size(), " here");
      Options o = groups_[gi].options;
      o.visit([&](const char* field, auto& v) {
        const std::string& s = detail::require_key(md, gp + field, name());
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) {
          TG_CHECK(s == "true" || s == "false", name(), ".load_state_dict: ", gp + field,
                   " must be true or false, got '", s, "'");
          v = s == "true";
        } else {
          v = detail::parse_double(s, gp + field);
        }
      });
      o.validate();
      options[gi] = o;
      for (const auto& p : groups_[gi].params) {
        const std::string sp = "state." + std::to_string(k++) + ".";
        auto st = md.find(sp + "step");
        if (st == md.end()) continue;  // this parameter had no state yet
        State s;
        s.step = detail::parse_int(st->second, sp + "step");
        // state exists only after a step; step <= 0 made Adam's bias correction 1 - beta^0 = 0 (NaN),
        // and INT64_MAX overflowed at the next step (to INT64_MIN: NaN too). Bounded by 2^53, the loaded count is exact as a double and far from overflow.
        TG_CHECK(s.step >= 1 && s.step <= kMaxLoadedCount, name(), ".load_state_dict: ", sp + "step",
                 " must be in [1, ", kMaxLoadedCount, "] (a parameter has state only after its first step), got ",
                 s.step);
        s.visit([&](const char* buf, Tensor& t) {
          auto it = in.tensors.find(sp + buf);
          if (it == in.tensors.end()) return;
          const Tensor& src = it->second;
          // a floating dtype other than the parameter's is converted (as PyTorch
          // casts on load): state saved before Module::to(dtype) loads after it
          TG_CHECK(src.shape() == p.shape() && src.is_floating_point(), name(),
                   ".load_state_dict: ", sp + buf, " has shape ", src.shape(), " and dtype ",
                   src.dtype(), ", its parameter has shape ", p.shape(), " and dtype ", p.dtype());
          t = src.dtype() == p.dtype() ? src.contiguous().clone() : src.to(p.dtype()).contiguous();
        });
        check_loaded_state(o, s, sp);
        state[p.impl()] = std::move(s);
      }
    }
    for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = options[gi];
    state_ = std::move(state);
  }

 protected:
  // Serial, once per parameter with a gradient and per step: create missing
  // state and advance the step count.
  virtual void begin_param(const Options& o, State& s, const Tensor& p) = 0;
  // Elements [lo, hi) of one parameter; may run concurrently for disjoint chunks.
  virtual void update(const Options& o, State& s, const Tensor& p, const Tensor& g, int64_t lo,
                      int64_t hi) = 0;
  // After loading: check that the buffers the options need are there.
  virtual void check_loaded_state(const Options& o, const State& s, const std::string& prefix) const {}

  Group& group_at(size_t g) {
    TG_CHECK(g < groups_.size(), name(), ": parameter group ", g, " out of range (", groups_.size(), " groups)");
    return groups_[g];
  }
  const Group& group_at(size_t g) const {
    TG_CHECK(g < groups_.size(), name(), ": parameter group ", g, " out of range (", groups_.size(), " groups)");
    return groups_[g];
  }

  const char* name_;
  Options defaults_;
  std::vector<Group> groups_;
  std::unordered_map<const TensorImpl*, size_t> owner_;
  std::unordered_map<const TensorImpl*, State> state_;
};

}  // namespace tg::optim
