// PyTorch interop: the state_dicts PyTorch wrote (lenet5.safetensors,
// mlp.safetensors) load strictly into the same architectures built here, and
// the fixed batch of interop_inputs.safetensors gives PyTorch's logits, loss,
// input gradients and LeNet parameter gradients (interop_outputs.safetensors):
// to 1e-5 in float32 and to 1e-10 when the same weights run in float64.
// Non-strict loading into a model with a new head reports exactly the skipped
// keys. The reverse direction writes a C++-initialized model and its logits
// (to $TG_INTEROP_OUT when set, for tests/reference/check_cpp_checkpoint.sh,
// which runs PyTorch on them; the suite itself never needs PyTorch). Tied
// tensors: saved once under their first name, and PyTorch's full state_dict
// (every name) or a save_model file (one name) loads strictly.
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

namespace {
// Tied tensors both ways PyTorch makes them: one Sequential(Linear, BatchNorm1d)
// registered as enc and dec (torch: self.dec = self.enc), and the Linear's
// weight registered again on the root (torch: self.out_weight = self.enc[0].weight,
// which comes first in state_dict, as the root's own parameters do here).
struct TiedModel {
  std::shared_ptr<nn::Linear> lin = std::make_shared<nn::Linear>(2, 2);
  std::shared_ptr<nn::BatchNorm1d> bn = std::make_shared<nn::BatchNorm1d>(2);
  nn::Module root{"Tied"};
  TiedModel() {
    auto enc = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{lin, bn});
    root.register_module("enc", enc);
    root.register_module("dec", enc);
    root.register_parameter("out_weight", lin->weight);
  }
};

// PyTorch's full state_dict of TiedModel (every name), as {k: v.clone()} writes it.
std::map<std::string, Tensor> torch_full_state(const Tensor& w, const Tensor& b) {
  std::map<std::string, Tensor> sd{{"out_weight", w}};
  for (const std::string m : {"enc.", "dec."}) {
    sd[m + "0.weight"] = w.clone();
    sd[m + "0.bias"] = b.clone();
    sd[m + "1.weight"] = tg::tensor({1.5f, 2.5f});
    sd[m + "1.bias"] = tg::tensor({0.25f, -0.25f});
    sd[m + "1.running_mean"] = tg::tensor({0.5f, -0.5f});
    sd[m + "1.running_var"] = tg::tensor({2.f, 3.f});
    sd[m + "1.num_batches_tracked"] = tg::scalar_tensor(7, tg::kInt64);
  }
  return sd;
}
}  // namespace

TEST_CASE("nn interop: tied tensors are saved once and load from PyTorch's full state_dict") {
  const std::string dir = (std::filesystem::temp_directory_path() / ("tg_tied_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string p = dir + "/tied.safetensors";
  const Tensor w = tg::tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}), b = tg::tensor({-1.f, 1.f});

  // tapegrad -> file: one name per tensor, the first (what safetensors.torch.load_model reads)
  TiedModel t;
  tg::save(t.root, p);
  std::vector<std::string> keys;
  for (const auto& [k, v] : tg::load_safetensors(p).tensors) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"enc.0.bias", "enc.1.bias", "enc.1.num_batches_tracked", "enc.1.running_mean",
                                         "enc.1.running_var", "enc.1.weight", "out_weight"});
  TiedModel back;
  CHECK(tg::load(back.root, p).ok());
  CHECK(tgtest::bit_equal(back.lin->weight, t.lin->weight));

  // PyTorch's full state_dict -> tapegrad, strict: the aliases are neither unexpected nor missing
  const std::map<std::string, Tensor> full = torch_full_state(w, b);
  tg::save_safetensors(p, full, {{"format", "pt"}});
  TiedModel a;
  const tg::LoadResult r = tg::load(a.root, p);
  CHECK(r.ok());
  CHECK(r.loaded == std::vector<std::string>{"out_weight", "enc.0.bias", "enc.1.weight", "enc.1.bias",
                                             "enc.1.running_mean", "enc.1.running_var", "enc.1.num_batches_tracked"});
  CHECK(a.lin->weight.to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
  CHECK(a.lin->bias.to_vector<float>() == std::vector<float>{-1.f, 1.f});
  CHECK(a.bn->num_batches_tracked.item<int64_t>() == 7);
  CHECK(tg::load_state_dict(a.root, full).ok());  // the same from memory

  // an alias whose values differ: an error naming both keys; strict leaves the model as it was
  std::map<std::string, Tensor> differ = full;
  differ["dec.0.weight"] = tg::tensor({1.f, 2.f, 3.f, 5.f}, {2, 2});
  differ["out_weight"] = tg::tensor({9.f, 9.f, 9.f, 9.f}, {2, 2});
  differ["enc.0.weight"] = differ["out_weight"].clone();
  TiedModel c;
  const Tensor before = c.lin->weight.clone();
  CHECK_THROWS_WITH_AS(tg::load_state_dict(c.root, differ),
                       doctest::Contains("\n  dec.0.weight: differs from out_weight (two names of one tied tensor)"),
                       tg::Error);
  CHECK(tgtest::bit_equal(c.lin->weight, before));
  // non-strict: copied from the first name, the other one reported
  const tg::LoadResult rc = tg::load_state_dict(c.root, differ, {.strict = false});
  CHECK(rc.mismatched == std::vector<std::string>{"dec.0.weight: differs from out_weight (two names of one tied tensor)"});
  CHECK(rc.missing.empty());
  CHECK(rc.unexpected.empty());
  CHECK(c.lin->weight.to_vector<float>() == std::vector<float>{9.f, 9.f, 9.f, 9.f});

  // safetensors.torch.save_model keeps one name per shared tensor (the
  // alphabetically first: dec.*): that loads strictly too
  std::map<std::string, Tensor> one;
  for (const auto& [k, v] : full)
    if (k.starts_with("dec.")) one[k] = v;
  TiedModel d;
  CHECK(tg::load_state_dict(d.root, one).ok());
  CHECK(d.lin->weight.to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
  CHECK(d.bn->running_mean.to_vector<float>() == std::vector<float>{0.5f, -0.5f});

  // no name of a tensor in the file: missing once, under its first name; other keys unexpected
  std::map<std::string, Tensor> partial = full;
  partial.erase("enc.0.bias");
  partial.erase("dec.0.bias");
  partial["extra"] = tg::ones({1});
  TiedModel e;
  const tg::LoadResult re = tg::load_state_dict(e.root, partial, {.strict = false});
  CHECK(re.missing == std::vector<std::string>{"enc.0.bias"});
  CHECK(re.unexpected == std::vector<std::string>{"extra"});
  CHECK(re.mismatched.empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("nn interop: a parameter registered twice in one module loads from PyTorch's full state_dict") {
  // PyTorch: self.w1 = nn.Parameter(...); self.w2 = self.w1 -> state_dict has w1 and w2.
  // Each module's own names were collected de-duplicated, so w2 was an unexpected key.
  struct Twice : tg::nn::Module {
    Tensor w1;
    Twice() {
      w1 = register_parameter("w1", tg::zeros({2}));
      register_parameter("w2", w1);
    }
    Tensor forward(const Tensor& x) override { return x * w1; }
  } m;
  CHECK(m.named_parameters().size() == 1);
  CHECK(m.named_parameters(true, /*remove_duplicate=*/false).size() == 2);
  const std::map<std::string, Tensor> full{{"w1", tg::tensor({1.f, 2.f})}, {"w2", tg::tensor({1.f, 2.f})}};
  const tg::LoadResult r = tg::load_state_dict(m, full);
  CHECK(r.ok());
  CHECK(r.unexpected.empty());
  CHECK(m.w1.to_vector<float>() == std::vector<float>{1.f, 2.f});
  CHECK(tg::state_dict(m).size() == 1);  // saved once, under its first name
}
