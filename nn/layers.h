// The layers: Linear, Conv2d, pooling, Flatten, Identity, activations, Dropout,
// BatchNorm1d/2d, LayerNorm, Embedding. Each is a Module with an aggregate
// options struct (validated in the constructor, errors name the option and
// its value), PyTorch's parameter names and layouts (Linear weight [out, in],
// Conv2d weight [out, in/groups, kh, kw]) and PyTorch's default
// initialization (see nn/init.h), drawn from a tg::Generator.
//
//   auto fc = std::make_shared<tg::nn::Linear>(784, 256);
//   tg::nn::Conv2d conv({.in = 1, .out = 6, .kernel = 5, .padding = 2});
//   tg::nn::BatchNorm2d bn(6);            // running stats as buffers
//   tg::nn::Dropout drop({.p = 0.25, .seed = 7});
//
// Dropout and BatchNorm behave differently in training and eval mode
// (Module::train/eval): Dropout is the identity in eval; BatchNorm uses and
// updates batch statistics in training and uses the running ones in eval.
#pragma once
#include <memory>
#include <optional>

#include "nn/functional.h"
#include "nn/module.h"

namespace tg::nn {

// ---- Linear: y = x · weightᵀ + bias   (x: [..., in] -> [..., out]) ----
struct LinearOptions {
  int64_t in = 0;
  int64_t out = 0;
  bool bias = true;
};
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true) : Linear(LinearOptions{in, out, bias}) {}
  explicit Linear(const LinearOptions& o, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) in one GEMM and one tape node (nn::Sequential's fusion).
  Tensor forward_relu(const Tensor& x);
  void reset_parameters(Generator& gen = default_generator());
  void pretty_print(std::ostream& os) const override;
  const LinearOptions& options() const { return opts_; }
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined

 private:
  void check_input(const Tensor& x) const;
  LinearOptions opts_;
};

// ---- Conv2d: x [N, in, H, W] -> [N, out, OH, OW] ----
struct Conv2dOptions {
  int64_t in = 0;
  int64_t out = 0;
  Size2 kernel = 0;
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, Size2 kernel) : Conv2d(Conv2dOptions{.in = in, .out = out, .kernel = kernel}) {}
  explicit Conv2d(const Conv2dOptions& o, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) with the ReLU in the convolution's output pass, one tape node (nn::Sequential's fusion).
  Tensor forward_relu(const Tensor& x);
  void reset_parameters(Generator& gen = default_generator());
  void pretty_print(std::ostream& os) const override;
  const Conv2dOptions& options() const { return opts_; }
  Tensor weight;  // [out, in/groups, kh, kw]
  Tensor bias;    // [out] or undefined

 private:
  void check_input(const Tensor& x) const;
  Conv2dFuncOptions func_options() const;  // opts_ as functional::conv2d takes them
  Conv2dOptions opts_;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(Size2 kernel) : MaxPool2d(MaxPool2dOptions{.kernel = kernel}) {}  // NOLINT
  explicit MaxPool2d(const MaxPool2dOptions& o);
  Tensor forward(const Tensor& x) override { return functional::max_pool2d(x, opts_); }
  void pretty_print(std::ostream& os) const override;
  const MaxPool2dOptions& options() const { return opts_; }

 private:
  MaxPool2dOptions opts_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(Size2 kernel) : AvgPool2d(AvgPool2dOptions{.kernel = kernel}) {}  // NOLINT
  explicit AvgPool2d(const AvgPool2dOptions& o);
  Tensor forward(const Tensor& x) override { return functional::avg_pool2d(x, opts_); }
  void pretty_print(std::ostream& os) const override;
  const AvgPool2dOptions& options() const { return opts_; }

 private:
  AvgPool2dOptions opts_;
};

// Flattens dims [start_dim, end_dim] into one (default: everything but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_, end_); }
  void pretty_print(std::ostream& os) const override;

 private:
  int64_t start_, end_;
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// ---- activations ----
class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, slope_); }
  void pretty_print(std::ostream& os) const override;

 private:
  double slope_;
};
class GELU : public Module {
 public:
  explicit GELU(GeluApprox approximate = GeluApprox::None) : Module("GELU"), approx_(approximate) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approx_); }
  void pretty_print(std::ostream& os) const override;

 private:
  GeluApprox approx_;
};
class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};
class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
};
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim_(dim) {}
  Tensor forward(const Tensor& x) override { return softmax(x, dim_); }
  void pretty_print(std::ostream& os) const override;

 private:
  int64_t dim_;
};
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : Module("LogSoftmax"), dim_(dim) {}
  Tensor forward(const Tensor& x) override { return log_softmax(x, dim_); }
  void pretty_print(std::ostream& os) const override;

 private:
  int64_t dim_;
};

// ---- Dropout: identity in eval; in training zeroes with probability p, scales by 1/(1-p) ----
struct DropoutOptions {
  double p = 0.5;
  std::optional<uint64_t> seed = std::nullopt;  // own Philox stream; default: tg::default_generator()
};
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : Dropout(DropoutOptions{.p = p}) {}
  explicit Dropout(const DropoutOptions& o);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
  // The stream the masks come from (save/restore its state to resume exactly).
  Generator& generator() { return gen_ ? *gen_ : default_generator(); }

 private:
  DropoutOptions opts_;
  std::shared_ptr<Generator> gen_;
};

// ---- BatchNorm1d ([N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]) ----
struct BatchNormOptions {
  int64_t num_features = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;               // learnable weight (1) and bias (0)
  bool track_running_stats = true;  // buffers running_mean (0), running_var (1), num_batches_tracked (0, int64)
};
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
  const BatchNormOptions& options() const { return opts_; }
  void reset_running_stats();
  Tensor weight, bias;                                        // [C] when affine
  Tensor running_mean, running_var, num_batches_tracked;      // when track_running_stats

 protected:
  BatchNormBase(const char* name, const BatchNormOptions& o, int min_dim, int max_dim);

 private:
  BatchNormOptions opts_;
  int min_dim_, max_dim_;
};
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features) : BatchNorm1d(BatchNormOptions{.num_features = num_features}) {}
  explicit BatchNorm1d(const BatchNormOptions& o) : BatchNormBase("BatchNorm1d", o, 2, 3) {}
};
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNormOptions{.num_features = num_features}) {}
  explicit BatchNorm2d(const BatchNormOptions& o) : BatchNormBase("BatchNorm2d", o, 4, 4) {}
};

// ---- LayerNorm over the trailing normalized_shape ----
struct LayerNormOptions {
  Shape normalized_shape = {};
  double eps = 1e-5;
  bool elementwise_affine = true;  // weight (1) and bias (0) of normalized_shape
};
class LayerNorm : public Module {
 public:
  explicit LayerNorm(const Shape& normalized_shape) : LayerNorm(LayerNormOptions{.normalized_shape = normalized_shape}) {}
  explicit LayerNorm(const LayerNormOptions& o);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& os) const override;
  Tensor weight, bias;

 private:
  LayerNormOptions opts_;
};

// ---- Embedding: int64 indices [...] -> [..., embedding_dim] ----
struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
};
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim)
      : Embedding(EmbeddingOptions{num_embeddings, embedding_dim}) {}
  explicit Embedding(const EmbeddingOptions& o, Generator& gen = default_generator());
  Tensor forward(const Tensor& indices) override { return functional::embedding(indices, weight); }
  void pretty_print(std::ostream& os) const override;
  Tensor weight;  // [num_embeddings, embedding_dim], N(0, 1)

 private:
  EmbeddingOptions opts_;
};

}  // namespace tg::nn
