// nn::Module and the containers: PyTorch's dotted names, registration order,
// train/eval, zero_grad, freezing, head replacement, dtype conversion that
// keeps handles valid, printing; tg::save/load: round trip, strict errors that
// list every problem, non-strict partial loads, dtype conversion.
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;
namespace nn = tg::nn;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<nn::Sequential> lenet(int64_t in_channels = 1, int64_t classes = 10) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = in_channels, .out = 6, .kernel = 5, .padding = 2}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(6, 16, 5), std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(120, 84), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(84, classes)});
}

// A custom module with named children, like a PyTorch nn.Module subclass.
struct Net : nn::Module {
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> fc1;
  Net(int64_t in_channels = 1) : Module("Net") {
    features = register_module("features", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(in_channels, 6, 5), std::make_shared<nn::BatchNorm2d>(6),
        std::make_shared<nn::ReLU>()}));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(6, 3));
  }
  Tensor forward(const Tensor& x) override { return fc1->forward(tg::mean(features->forward(x), {2, 3})); }
};

std::vector<std::string> names(const std::vector<nn::NamedTensor>& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("tg_nn_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEST_CASE("nn module: PyTorch dotted names, registration order, counts") {
  auto net = lenet();
  CHECK(names(net->named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight",
                                 "9.bias", "11.weight", "11.bias"});
  CHECK(net->num_parameters() == 61706);  // LeNet-5 as in PyTorch
  CHECK(net->size() == 12);
  Net m;
  CHECK(names(m.named_parameters()) == std::vector<std::string>{"features.0.weight", "features.0.bias",
                                                                "features.1.weight", "features.1.bias", "fc1.weight",
                                                                "fc1.bias"});
  CHECK(names(m.named_buffers()) == std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                                             "features.1.num_batches_tracked"});
  CHECK(names(m.named_parameters(false)).empty());
  std::vector<std::string> mods;
  for (const auto& [n, c] : m.named_modules()) mods.push_back(n + ":" + c->type_name());
  CHECK(mods == std::vector<std::string>{"features:Sequential", "features.0:Conv2d", "features.1:BatchNorm2d",
                                         "features.2:ReLU", "fc1:Linear"});
  CHECK(m.child("fc1") == m.fc1);
  CHECK_THROWS_WITH_AS(m.child("fc2"), "Net: no child module named 'fc2'", tg::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", tg::zeros({1})), "Net: parameter name 'a.b' must not contain '.'",
                       tg::Error);
  CHECK_THROWS_WITH_AS(m.register_module("fc1", std::make_shared<nn::ReLU>()), "Net: module 'fc1' registered twice",
                       tg::Error);
  // Every parameter is a leaf that requires grad; buffers do not.
  for (const auto& p : m.parameters()) CHECK((p.requires_grad() && p.is_leaf()));
  for (const auto& b : m.buffers()) CHECK(!b.requires_grad());
  // ModuleList names its entries 0, 1, ... and has no forward.
  nn::ModuleList list({std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::Linear>(2, 1, false)});
  CHECK(names(list.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight"});
  CHECK_THROWS_WITH_AS(list.forward(tg::zeros({1, 2})), "ModuleList: this module has no forward()", tg::Error);
}

TEST_CASE("nn module: train/eval, zero_grad, freezing, head replacement, to(dtype)") {
  auto net = lenet();
  CHECK(net->is_training());
  net->eval();
  for (const auto& [n, c] : net->named_modules()) CHECK(!c->is_training());
  net->train();
  CHECK((*net)[3]->is_training());

  const Tensor x = tg::randn({2, 1, 28, 28});
  tg::F::cross_entropy(net->forward(x), tg::tensor(std::vector<int64_t>{3, 1})).backward();
  for (const auto& p : net->parameters()) CHECK(p.grad().defined());
  net->zero_grad(false);
  for (const auto& p : net->parameters()) CHECK(tg::max(tg::abs(p.grad())).item_double() == 0.0);
  net->zero_grad();
  for (const auto& p : net->parameters()) CHECK(!p.grad().defined());

  // Freeze the backbone, replace the head: only the head trains.
  net->requires_grad_(false);
  auto head = std::make_shared<nn::Linear>(84, 5);
  net->replace(-1, head);
  CHECK((*net)[11] == head);
  CHECK(net->at<nn::Linear>(11)->options().out == 5);
  CHECK_THROWS_WITH_AS(net->at<nn::Conv2d>(11), doctest::Contains("module 11 is a Linear"), tg::Error);
  CHECK_THROWS_WITH_AS((*net)[12], "Sequential[]: index 12 is out of range for 12 modules", tg::Error);
  CHECK(net->num_parameters(true) == 84 * 5 + 5);
  tg::F::cross_entropy(net->forward(x), tg::tensor(std::vector<int64_t>{3, 1})).backward();
  CHECK(head->weight.grad().defined());
  CHECK(!net->at<nn::Conv2d>(0)->weight.grad().defined());
  CHECK(names(net->named_parameters()).back() == "11.bias");

  // to(float64) converts in place: handles taken before still see the parameters.
  Tensor w = net->at<nn::Conv2d>(0)->weight;
  const std::vector<float> before = w.to_vector<float>();
  net->to(tg::kFloat64);
  CHECK(w.dtype() == tg::kFloat64);
  CHECK(net->parameters()[0].is_same(w));
  const std::vector<double> after = w.to_vector<double>();
  for (size_t i = 0; i < before.size(); ++i) CHECK(after[i] == double(before[i]));
  CHECK(net->forward(x.to(tg::kFloat64)).dtype() == tg::kFloat64);
  CHECK_THROWS_WITH_AS(net->forward(x), doctest::Contains("input is float32 but the weights are float64"), tg::Error);
}

TEST_CASE("nn module: operator<< prints the tree with options and parameter counts") {
  nn::Sequential seq({std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}),
                      std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.25),
                      std::make_shared<nn::Linear>(784, 256)});
  std::ostringstream os;
  os << seq;
  CHECK(os.str() ==
        "Sequential(\n"
        "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))  # 156 params\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.25)\n"
        "  (3): Linear(in_features=784, out_features=256, bias=true)  # 200,960 params\n"
        ")  # 201,116 params (201,116 trainable)");
  std::ostringstream os2;
  os2 << Net();
  CHECK(os2.str().find("  (features): Sequential(\n    (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))") !=
        std::string::npos);
  CHECK(os2.str().find("(1): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)") !=
        std::string::npos);
}

TEST_CASE("nn serialize: save/load round trip, strict errors, non-strict partial loads, dtypes") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Net a;
  a.forward(tg::randn({4, 1, 8, 8}));  // moves BatchNorm's running stats
  tg::save(a, path, {{"epoch", "7"}});
  Net b;
  tg::LoadResult r = tg::load(b, path);
  CHECK(r.ok());
  CHECK(r.loaded.size() == 9);
  CHECK(r.metadata.at("epoch") == "7");
  CHECK(r.metadata.at("format") == "pt");
  const auto sa = tg::state_dict(a), sb = tg::state_dict(b);
  for (const auto& [k, t] : sa) CHECK(tgtest::bit_equal(t, sb.at(k)));
  CHECK(b.features->at<nn::BatchNorm2d>(1)->num_batches_tracked.item<int64_t>() == 1);

  // Strict: every problem in one error, nothing copied.
  Net c(3);
  const Tensor fc_before = c.fc1->weight.clone();
  try {
    tg::load(c, path);
    FAIL("strict load did not throw");
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("features.0.weight: expected [6,3,5,5], file has [6,1,5,5]") != std::string::npos);
  }
  CHECK(tgtest::bit_equal(c.fc1->weight, fc_before));
  auto seq = lenet();
  try {
    tg::load(*seq, path);
    FAIL("strict load did not throw");
  } catch (const tg::Error& e) {
    const std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find("missing keys (10): 0.weight 0.bias 3.weight 3.bias 7.weight 7.bias 9.weight 9.bias 11.weight "
                   "11.bias") != std::string::npos);
    CHECK(msg.find("unexpected keys (9): fc1.bias fc1.weight features.0.bias") != std::string::npos);
    CHECK(msg.find("{.strict = false}") != std::string::npos);
  }
  // Non-strict: loads what matches, reports the rest.
  r = tg::load(c, path, {.strict = false});
  CHECK(r.mismatched == std::vector<std::string>{"features.0.weight: expected [6,3,5,5], file has [6,1,5,5]"});
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(r.loaded.size() == 8);
  CHECK(tgtest::bit_equal(c.fc1->weight, a.fc1->weight));

  // dtype: a float64 file loads into a float32 model (rounded) and back; int buffers must stay int.
  Net d;
  d.to(tg::kFloat64);
  tg::save(d, path);
  CHECK(tg::load_safetensors(path).tensors.at("fc1.weight").dtype() == tg::kFloat64);
  Net e;
  CHECK(tg::load(e, path).ok());
  CHECK(e.fc1->weight.dtype() == tg::kFloat32);
  CHECK(tgtest::bit_equal(e.fc1->weight, d.fc1->weight.to(tg::kFloat32)));
  auto st = tg::state_dict(a);
  st["features.1.num_batches_tracked"] = tg::scalar_tensor(1.0, tg::kFloat32);
  tg::save_safetensors(path, st);
  CHECK_THROWS_WITH_AS(tg::load(e, path),
                       doctest::Contains("features.1.num_batches_tracked: expected [] I64, file has [] F32"), tg::Error);
}
