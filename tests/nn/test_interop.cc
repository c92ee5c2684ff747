// PyTorch interop: the state_dicts PyTorch wrote (lenet5.safetensors,
// mlp.safetensors) load strictly into the same architectures built here, and
// the fixed batch of interop_inputs.safetensors gives PyTorch's logits, loss,
// input gradients and LeNet parameter gradients (interop_outputs.safetensors):
// to 1e-5 in float32 and to 1e-10 when the same weights run in float64.
// Non-strict loading into a model with a new head reports exactly the skipped
// keys. The reverse direction writes a C++-initialized model and its logits
// (to $TG_INTEROP_OUT when set, for tests/reference/check_cpp_checkpoint.sh,
// which runs PyTorch on them; the suite itself never needs PyTorch).
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;
namespace nn = tg::nn;

namespace {

std::shared_ptr<nn::Sequential> lenet(int64_t classes = 10) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(6, 16, 5),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(120, 84),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(84, classes)});
}
std::shared_ptr<nn::Sequential> mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 256), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 128),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(128, 10)});
}

std::string ref(const std::string& name) { return std::string(TG_TEST_REFERENCE_DIR) + "/" + name; }

}  // namespace

TEST_CASE("nn interop: PyTorch LeNet-5 and MLP checkpoints give PyTorch's logits, loss and gradients") {
  const auto in = tg::load_safetensors(ref("interop_inputs.safetensors")).tensors;
  const auto out = tg::load_safetensors(ref("interop_outputs.safetensors")).tensors;
  const Tensor targets = in.at("targets");
  for (const std::string arch : {"lenet", "mlp"}) {
    CAPTURE(arch);
    auto model = arch == "lenet" ? lenet() : mlp();
    const tg::LoadResult r = tg::load(*model, ref(arch == "lenet" ? "lenet5.safetensors" : "mlp.safetensors"));
    CHECK(r.ok());
    CHECK(r.metadata.at("format") == "pt");
    CHECK(r.loaded.size() == (arch == "lenet" ? 10u : 6u));
    model->eval();

    // float32, as PyTorch ran it.
    Tensor x = in.at(arch + "_input").clone().requires_grad_();
    Tensor logits = model->forward(x);
    Tensor loss = tg::F::cross_entropy(logits, targets);
    loss.backward();
    const double e_logits = tgtest::max_abs_diff(logits, out.at(arch + "_logits"));
    const double e_loss = std::abs(loss.item_double() - out.at(arch + "_loss").item_double());
    const double e_grad = tgtest::max_abs_diff(x.grad(), out.at(arch + "_input_grad"));
    CHECK(e_logits < 1e-5);
    CHECK(e_loss < 1e-5);
    CHECK(e_grad < 1e-5);
    double e_pgrad = 0;
    if (arch == "lenet")
      for (const auto& [name, p] : model->named_parameters())
        e_pgrad = std::max(e_pgrad, tgtest::max_abs_diff(p.grad(), out.at("lenet_grad." + name)));
    CHECK(e_pgrad < 1e-5);
    MESSAGE(arch << " float32 max |diff| vs PyTorch: logits " << e_logits << ", loss " << e_loss << ", input grad "
                 << e_grad << ", param grads " << e_pgrad);

    // float64 from the same float32 weights and inputs: agreement to rounding.
    model->to(tg::kFloat64);
    Tensor x64 = in.at(arch + "_input").to(tg::kFloat64).requires_grad_();
    Tensor logits64 = model->forward(x64);
    Tensor loss64 = tg::F::cross_entropy(logits64, targets);
    loss64.backward();
    const double f_logits = tgtest::max_abs_diff(logits64, out.at(arch + "_logits_f64"));
    const double f_loss = std::abs(loss64.item_double() - out.at(arch + "_loss_f64").item_double());
    const double f_grad = tgtest::max_abs_diff(x64.grad(), out.at(arch + "_input_grad_f64"));
    CHECK(f_logits < 1e-10);
    CHECK(f_loss < 1e-10);
    CHECK(f_grad < 1e-10);
    MESSAGE(arch << " float64 max |diff| vs PyTorch: logits " << f_logits << ", loss " << f_loss << ", input grad "
                 << f_grad);
  }
}

TEST_CASE("nn interop: a pretrained backbone goes into a model with a new head (non-strict)") {
  auto model = lenet(5);
  const Tensor head_before = model->at<nn::Linear>(11)->weight.clone();
  CHECK_THROWS_WITH_AS(tg::load(*model, ref("lenet5.safetensors")),
                       doctest::Contains("11.weight: expected [5,84], file has [10,84]\n  11.bias: expected [5], file has [10]"),
                       tg::Error);
  const tg::LoadResult r = tg::load(*model, ref("lenet5.safetensors"), {.strict = false});
  CHECK(r.mismatched ==
        std::vector<std::string>{"11.weight: expected [5,84], file has [10,84]", "11.bias: expected [5], file has [10]"});
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(r.loaded == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                                             "9.weight", "9.bias"});
  const auto file = tg::load_safetensors(ref("lenet5.safetensors")).tensors;
  CHECK(tgtest::bit_equal(model->at<nn::Conv2d>(0)->weight, file.at("0.weight")));
  CHECK(tgtest::bit_equal(model->at<nn::Linear>(11)->weight, head_before));  // the new head keeps its init
  // A model with an extra layer: the extra keys are missing, nothing unexpected.
  auto bigger = lenet();
  bigger->push_back(std::make_shared<nn::Linear>(10, 2));
  const tg::LoadResult r2 = tg::load(*bigger, ref("lenet5.safetensors"), {.strict = false});
  CHECK(r2.missing == std::vector<std::string>{"12.weight", "12.bias"});
  CHECK(r2.loaded.size() == 10);
  // A smaller model: the file's extra keys are unexpected.
  nn::Sequential trunk({std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2})});
  const tg::LoadResult r3 = tg::load(trunk, ref("lenet5.safetensors"), {.strict = false});
  CHECK(r3.unexpected.size() == 8);
  CHECK(r3.loaded == std::vector<std::string>{"0.weight", "0.bias"});
}

TEST_CASE("nn interop: a C++-written LeNet checkpoint reloads exactly (PyTorch check: check_cpp_checkpoint.sh)") {
  const char* env = std::getenv("TG_INTEROP_OUT");
  const std::string dir = env ? std::string(env)
                              : (std::filesystem::temp_directory_path() / ("tg_interop_" + std::to_string(::getpid())))
                                    .string();
  std::filesystem::create_directories(dir);
  const auto in = tg::load_safetensors(ref("interop_inputs.safetensors")).tensors;
  for (const std::string arch : {"lenet", "mlp"}) {
    tg::manual_seed(2024);
    auto model = arch == "lenet" ? lenet() : mlp();
    model->eval();
    const Tensor logits = model->forward(in.at(arch + "_input")).detach();
    const std::string path = dir + "/cpp_" + arch + ".safetensors";
    tg::save(*model, path, {{"source", "tapegrad test_interop"}});
    tg::save_safetensors(dir + "/cpp_" + arch + "_logits.safetensors", {{"logits", logits}});
    auto again = arch == "lenet" ? lenet() : mlp();
    CHECK(tg::load(*again, path).ok());
    again->eval();
    CHECK(tgtest::bit_equal(again->forward(in.at(arch + "_input")), logits));
  }
  if (!env) std::filesystem::remove_all(dir);
}

TEST_CASE("nn interop: LeNet forward and backward are bit-identical for 1 and 2 threads") {
  const auto in = tg::load_safetensors(ref("interop_inputs.safetensors")).tensors;
  auto run = [&](int threads) {
    tg::set_num_threads(threads);
    auto model = lenet();
    tg::load(*model, ref("lenet5.safetensors"));
    Tensor x = in.at("lenet_input").clone().requires_grad_();
    Tensor logits = model->forward(x);
    tg::F::cross_entropy(logits, in.at("targets"), {.label_smoothing = 0.1}).backward();
    std::vector<Tensor> out{logits.detach(), x.grad()};
    for (const auto& p : model->parameters()) out.push_back(p.grad());
    return out;
  };
  const int nt = tg::get_num_threads();
  const auto a = run(1), b = run(2);
  tg::set_num_threads(nt);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(tgtest::bit_equal(a[i], b[i]));
}
