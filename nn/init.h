// tg::nn::init: in-place parameter initializers, torch.nn.init semantics.
//
// Every random initializer draws from a tg::Generator (default:
// tg::default_generator()), so a seed fixes a model's initial weights exactly,
// independent of the thread count. Fans follow PyTorch's
// _calculate_fan_in_and_fan_out: for a weight [out, in, k...] fan_in = in·Πk and
// fan_out = out·Πk (a Linear weight [out, in] has no kernel dims).
//   kaiming_uniform_: U(-b, b), b = gain·sqrt(3 / fan)   gain = calculate_gain(nonlinearity, a)
//   kaiming_normal_:  N(0, gain / sqrt(fan))
//   xavier_uniform_:  U(-b, b), b = gain·sqrt(6 / (fan_in + fan_out));  xavier_normal_: std = gain·sqrt(2 / (fan_in + fan_out))
// The layers' defaults (PyTorch's reset_parameters): Linear and Conv2d weights
// kaiming_uniform_(a = sqrt(5)) (= U(±1/sqrt(fan_in))), biases U(±1/sqrt(fan_in));
// BatchNorm and LayerNorm weight 1, bias 0; Embedding N(0, 1).
// Initializers run without recording and bump the tensor's version.
#pragma once
#include <utility>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Conv2d, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

// gain: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a²)), selu 3/4.
double calculate_gain(Nonlinearity nl, double param = 0.01);
// {fan_in, fan_out}; the tensor must have at least 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

struct KaimingOptions {
  double a = 0;  // negative slope of the leaky_relu that follows
  FanMode mode = FanMode::FanIn;
  Nonlinearity nonlinearity = Nonlinearity::LeakyReLU;
};

Tensor& uniform_(Tensor& t, double low = 0, double high = 1, Generator& gen = default_generator());
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator& gen = default_generator());
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& kaiming_uniform_(Tensor& t, const KaimingOptions& o = {}, Generator& gen = default_generator());
Tensor& kaiming_normal_(Tensor& t, const KaimingOptions& o = {}, Generator& gen = default_generator());
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator& gen = default_generator());
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator& gen = default_generator());

}  // namespace tg::nn::init
