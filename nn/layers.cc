// Layer constructors (option validation, PyTorch default init), forwards with
// shape checks that name the layer, and the one-line descriptions used by
// operator<<(Module).
#include "nn/layers.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/init.h"

namespace tg::nn {

namespace {
const char* py_bool(bool b) { return b ? "true" : "false"; }
}  // namespace

// ---------------------------------------------------------------------------
// Linear
Linear::Linear(const LinearOptions& o, Generator& gen) : Module("Linear"), opts_(o) {
  TG_CHECK(o.in > 0, "Linear: in must be positive, got ", o.in);
  TG_CHECK(o.out > 0, "Linear: out must be positive, got ", o.out);
  weight = register_parameter("weight", empty({o.out, o.in}));
  if (o.bias) bias = register_parameter("bias", empty({o.out}));
  reset_parameters(gen);
}

// weight ~ kaiming_uniform_(a = sqrt(5)) = U(±1/sqrt(in)),  bias ~ U(±1/sqrt(in))
void Linear::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, {.a = std::sqrt(5.0)}, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(double(opts_.in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

void Linear::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && x.dim() >= 1, "Linear(", opts_.in, " -> ", opts_.out, "): expected an input [..., ",
           opts_.in, "]");
  TG_CHECK(x.size(-1) == opts_.in, "Linear(", opts_.in, " -> ", opts_.out, "): input has ", x.size(-1),
           " features (input shape ", x.shape(), ")");
  TG_CHECK(x.dtype() == weight.dtype(), "Linear(", opts_.in, " -> ", opts_.out, "): input is ", x.dtype(),
           " but the weights are ", weight.dtype(), "; convert one of them (module.to(...))");
}

// x: [..., in] -> [..., out]
Tensor Linear::forward(const Tensor& x) {
  check_input(x);
  return linear(x, weight, bias);
}

// x: [..., in] -> relu([..., out])
Tensor Linear::forward_relu(const Tensor& x) {
  check_input(x);
  return linear_relu(x, weight, bias);
}

void Linear::pretty_print(std::ostream& os) const {
  os << "Linear(in_features=" << opts_.in << ", out_features=" << opts_.out << ", bias=" << py_bool(opts_.bias)
     << ")";
}

// ---------------------------------------------------------------------------
// Conv2d
Conv2d::Conv2d(const Conv2dOptions& o, Generator& gen) : Module("Conv2d"), opts_(o) {
  TG_CHECK(o.in > 0, "Conv2d: in must be positive, got ", o.in);
  TG_CHECK(o.out > 0, "Conv2d: out must be positive, got ", o.out);
  TG_CHECK(o.kernel.h > 0 && o.kernel.w > 0, "Conv2d: kernel must be positive, got ", o.kernel);
  TG_CHECK(o.stride.h > 0 && o.stride.w > 0, "Conv2d: stride must be positive, got ", o.stride);
  TG_CHECK(o.padding.h >= 0 && o.padding.w >= 0, "Conv2d: padding must be non-negative, got ", o.padding);
  TG_CHECK(o.dilation.h > 0 && o.dilation.w > 0, "Conv2d: dilation must be positive, got ", o.dilation);
  TG_CHECK(o.groups > 0, "Conv2d: groups must be positive, got ", o.groups);
  TG_CHECK(o.in % o.groups == 0, "Conv2d: in = ", o.in, " is not divisible by groups = ", o.groups);
  TG_CHECK(o.out % o.groups == 0, "Conv2d: out = ", o.out, " is not divisible by groups = ", o.groups);
  weight = register_parameter("weight", empty({o.out, o.in / o.groups, o.kernel.h, o.kernel.w}));
  if (o.bias) bias = register_parameter("bias", empty({o.out}));
  reset_parameters(gen);
}

// weight ~ kaiming_uniform_(a = sqrt(5)),  bias ~ U(±1/sqrt(fan_in)),  fan_in = in/groups · kh · kw
void Conv2d::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, {.a = std::sqrt(5.0)}, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(double(init::calculate_fan_in_and_fan_out(weight).first));
    init::uniform_(bias, -bound, bound, gen);
  }
}

void Conv2d::check_input(const Tensor& x) const {
  TG_CHECK(x.defined() && x.dim() == 4, "Conv2d(", opts_.in, " -> ", opts_.out, "): expected a 4-D input [N, ",
           opts_.in, ", H, W], got shape ", x.defined() ? x.shape() : Shape{});
  TG_CHECK(x.size(1) == opts_.in, "Conv2d(", opts_.in, " -> ", opts_.out, "): input has ", x.size(1),
           " channels, expected ", opts_.in, " (input shape ", x.shape(), ")");
  TG_CHECK(x.dtype() == weight.dtype(), "Conv2d(", opts_.in, " -> ", opts_.out, "): input is ", x.dtype(),
           " but the weights are ", weight.dtype());
}

Conv2dFuncOptions Conv2d::func_options() const {
  return {.stride = opts_.stride, .padding = opts_.padding, .dilation = opts_.dilation, .groups = opts_.groups};
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  return functional::conv2d(x, weight, bias, func_options());
}

// x: [N, in, H, W] -> relu([N, out, OH, OW])
Tensor Conv2d::forward_relu(const Tensor& x) {
  check_input(x);
  return functional::conv2d_relu(x, weight, bias, func_options());
}

void Conv2d::pretty_print(std::ostream& os) const {
  os << "Conv2d(" << opts_.in << ", " << opts_.out << ", kernel_size=" << opts_.kernel << ", stride=" << opts_.stride;
  if (opts_.padding != Size2(0)) os << ", padding=" << opts_.padding;
  if (opts_.dilation != Size2(1)) os << ", dilation=" << opts_.dilation;
  if (opts_.groups != 1) os << ", groups=" << opts_.groups;
  if (!opts_.bias) os << ", bias=false";
  os << ")";
}

// ---------------------------------------------------------------------------
// Pooling
namespace {
void check_pool(Size2 k, Size2 s, Size2 p, const char* name) {
  TG_CHECK(k.h > 0 && k.w > 0, name, ": kernel must be positive, got ", k);
  // 0 (both dims) means the kernel size; one zero dim was accepted here and failed in the first forward
  TG_CHECK(s == Size2(0) || (s.h > 0 && s.w > 0), name, ": stride must be positive (or 0 for the kernel size), got ",
           s);
  TG_CHECK(p.h >= 0 && p.w >= 0, name, ": padding must be non-negative, got ", p);
  TG_CHECK(2 * p.h <= k.h && 2 * p.w <= k.w, name, ": padding ", p, " must be at most half the kernel ", k);
}
}  // namespace

MaxPool2d::MaxPool2d(const MaxPool2dOptions& o) : Module("MaxPool2d"), opts_(o) {
  check_pool(o.kernel, o.stride, o.padding, "MaxPool2d");
  if (opts_.stride == Size2(0)) opts_.stride = o.kernel;
}
void MaxPool2d::pretty_print(std::ostream& os) const {
  os << "MaxPool2d(kernel_size=" << opts_.kernel << ", stride=" << opts_.stride << ", padding=" << opts_.padding
     << ", ceil_mode=" << py_bool(opts_.ceil_mode) << ")";
}
AvgPool2d::AvgPool2d(const AvgPool2dOptions& o) : Module("AvgPool2d"), opts_(o) {
  check_pool(o.kernel, o.stride, o.padding, "AvgPool2d");
  if (opts_.stride == Size2(0)) opts_.stride = o.kernel;
}
void AvgPool2d::pretty_print(std::ostream& os) const {
  os << "AvgPool2d(kernel_size=" << opts_.kernel << ", stride=" << opts_.stride << ", padding=" << opts_.padding
     << ", ceil_mode=" << py_bool(opts_.ceil_mode) << ", count_include_pad=" << py_bool(opts_.count_include_pad)
     << ")";
}

void Flatten::pretty_print(std::ostream& os) const {
  os << "Flatten(start_dim=" << start_ << ", end_dim=" << end_ << ")";
}
void LeakyReLU::pretty_print(std::ostream& os) const { os << "LeakyReLU(negative_slope=" << slope_ << ")"; }
void GELU::pretty_print(std::ostream& os) const {
  os << "GELU(approximate='" << (approx_ == GeluApprox::Tanh ? "tanh" : "none") << "')";
}
void Softmax::pretty_print(std::ostream& os) const { os << "Softmax(dim=" << dim_ << ")"; }
void LogSoftmax::pretty_print(std::ostream& os) const { os << "LogSoftmax(dim=" << dim_ << ")"; }

// ---------------------------------------------------------------------------
// Dropout
Dropout::Dropout(const DropoutOptions& o) : Module("Dropout"), opts_(o) {
  TG_CHECK(o.p >= 0 && o.p <= 1, "Dropout: p must be in [0, 1], got ", o.p);
  if (o.seed) gen_ = std::make_shared<Generator>(*o.seed);
}
Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, opts_.p, is_training(), generator()); }
void Dropout::pretty_print(std::ostream& os) const { os << "Dropout(p=" << opts_.p << ")"; }

// ---------------------------------------------------------------------------
// BatchNorm
BatchNormBase::BatchNormBase(const char* name, const BatchNormOptions& o, int min_dim, int max_dim)
    : Module(name), opts_(o), min_dim_(min_dim), max_dim_(max_dim) {
  TG_CHECK(o.num_features > 0, name, ": num_features must be positive, got ", o.num_features);
  TG_CHECK(o.eps > 0, name, ": eps must be positive, got ", o.eps);
  TG_CHECK(o.momentum >= 0 && o.momentum <= 1, name, ": momentum must be in [0, 1], got ", o.momentum);
  const int64_t C = o.num_features;
  if (o.affine) {
    weight = register_parameter("weight", ones({C}));
    bias = register_parameter("bias", zeros({C}));
  }
  if (o.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({C}));
    running_var = register_buffer("running_var", ones({C}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {.dtype = kInt64}));
  }
}

void BatchNormBase::reset_running_stats() {
  if (!opts_.track_running_stats) return;
  NoGradGuard ng;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

Tensor BatchNormBase::forward(const Tensor& x) {
  const char* name = type_name().c_str();
  TG_CHECK(x.defined() && x.dim() >= min_dim_ && x.dim() <= max_dim_, name, "(", opts_.num_features,
           "): expected a ", min_dim_ == max_dim_ ? "4-D input [N, C, H, W]" : "2-D or 3-D input [N, C] or [N, C, L]",
           ", got shape ", x.defined() ? x.shape() : Shape{});
  TG_CHECK(x.size(1) == opts_.num_features, name, "(", opts_.num_features, "): input has ", x.size(1),
           " channels (input shape ", x.shape(), ")");
  // Without running stats, batch statistics are used in eval too (as in PyTorch).
  Tensor y = functional::batch_norm(x, running_mean, running_var, weight, bias,
                                    is_training() || !opts_.track_running_stats, opts_.momentum, opts_.eps);
  // counted after the forward succeeded (a wrong input dtype used to count it)
  if (is_training() && opts_.track_running_stats) {
    NoGradGuard ng;
    num_batches_tracked.add_(1.0);
    num_batches_tracked.bump_version();
  }
  return y;
}

void BatchNormBase::pretty_print(std::ostream& os) const {
  os << type_name() << "(" << opts_.num_features << ", eps=" << opts_.eps << ", momentum=" << opts_.momentum
     << ", affine=" << py_bool(opts_.affine) << ", track_running_stats=" << py_bool(opts_.track_running_stats)
     << ")";
}

// ---------------------------------------------------------------------------
// LayerNorm
LayerNorm::LayerNorm(const LayerNormOptions& o) : Module("LayerNorm"), opts_(o) {
  TG_CHECK(!o.normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
  for (int64_t d : o.normalized_shape)
    TG_CHECK(d > 0, "LayerNorm: normalized_shape must be positive, got ", o.normalized_shape);
  TG_CHECK(o.eps > 0, "LayerNorm: eps must be positive, got ", o.eps);
  if (o.elementwise_affine) {
    weight = register_parameter("weight", ones(o.normalized_shape));
    bias = register_parameter("bias", zeros(o.normalized_shape));
  }
}
Tensor LayerNorm::forward(const Tensor& x) {
  return functional::layer_norm(x, opts_.normalized_shape, weight, bias, opts_.eps);
}
void LayerNorm::pretty_print(std::ostream& os) const {
  os << "LayerNorm(" << opts_.normalized_shape << ", eps=" << opts_.eps
     << ", elementwise_affine=" << py_bool(opts_.elementwise_affine) << ")";
}

// ---------------------------------------------------------------------------
// Embedding
Embedding::Embedding(const EmbeddingOptions& o, Generator& gen) : Module("Embedding"), opts_(o) {
  TG_CHECK(o.num_embeddings > 0, "Embedding: num_embeddings must be positive, got ", o.num_embeddings);
  TG_CHECK(o.embedding_dim > 0, "Embedding: embedding_dim must be positive, got ", o.embedding_dim);
  weight = register_parameter("weight", empty({o.num_embeddings, o.embedding_dim}));
  init::normal_(weight, 0.0, 1.0, gen);
}
void Embedding::pretty_print(std::ostream& os) const {
  os << "Embedding(" << opts_.num_embeddings << ", " << opts_.embedding_dim << ")";
}

}  // namespace tg::nn
