// Parameter initializers (see init.h for the formulas).
#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "tensor/raw.h"

namespace tg::nn::init {

namespace {
void check(const Tensor& t, const char* op) {
  TG_CHECK(t.defined(), "init::", op, ": tensor is undefined");
  TG_CHECK(t.is_floating_point(), "init::", op, ": tensor must be float32 or float64, got ", t.dtype());
}
int64_t fan(const Tensor& t, FanMode m) {
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return m == FanMode::FanIn ? in : out;
}
}  // namespace

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv2d:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::SELU: return 0.75;
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TG_CHECK(t.defined() && t.dim() >= 2, "init: fan in and fan out need a tensor with at least 2 dims, got shape ",
           t.defined() ? t.shape() : Shape{});
  int64_t receptive = 1;
  for (int d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  check(t, "uniform_");
  TG_CHECK(low <= high, "init::uniform_: low ", low, " is greater than high ", high);
  tg::uniform_(t, low, high, gen);
  t.bump_version();
  return t;
}
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  check(t, "normal_");
  TG_CHECK(std >= 0, "init::normal_: std must be non-negative, got ", std);
  tg::normal_(t, mean, std, gen);
  t.bump_version();
  return t;
}
Tensor& constant_(Tensor& t, double value) {
  TG_CHECK(t.defined(), "init::constant_: tensor is undefined");
  raw::fill_(t, value);
  t.bump_version();
  return t;
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& kaiming_uniform_(Tensor& t, const KaimingOptions& o, Generator& gen) {
  check(t, "kaiming_uniform_");
  const int64_t f = fan(t, o.mode);
  TG_CHECK(f > 0, "init::kaiming_uniform_: fan is 0 for shape ", t.shape());
  const double bound = calculate_gain(o.nonlinearity, o.a) * std::sqrt(3.0 / double(f));
  return init::uniform_(t, -bound, bound, gen);
}
Tensor& kaiming_normal_(Tensor& t, const KaimingOptions& o, Generator& gen) {
  check(t, "kaiming_normal_");
  const int64_t f = fan(t, o.mode);
  TG_CHECK(f > 0, "init::kaiming_normal_: fan is 0 for shape ", t.shape());
  return init::normal_(t, 0.0, calculate_gain(o.nonlinearity, o.a) / std::sqrt(double(f)), gen);
}
Tensor& xavier_uniform_(Tensor& t, double gain, Generator& gen) {
  check(t, "xavier_uniform_");
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / double(in + out));
  return init::uniform_(t, -bound, bound, gen);
}
Tensor& xavier_normal_(Tensor& t, double gain, Generator& gen) {
  check(t, "xavier_normal_");
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return init::normal_(t, 0.0, gain * std::sqrt(2.0 / double(in + out)), gen);
}

}  // namespace tg::nn::init
