// train / finetune / eval / inspect for the tapegrad command.
#include "app.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "report.h"

namespace fs = std::filesystem;
namespace nn = tg::nn;

namespace tgapp {

// ---------------------------------------------------------------- models
std::shared_ptr<nn::Sequential> make_model(const std::string& arch, tg::Generator& gen) {
  auto seq = std::make_shared<nn::Sequential>();
  if (arch == "mlp") {
    // x: [B, 784] -> [B, 10]   (names 0, 2, 4 like PyTorch's nn.Sequential)
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 784, .out = 256}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 256, .out = 128}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 128, .out = 10}, gen));
  } else if (arch == "lenet") {
    // x: [B, 1, 28, 28] -> conv 5x5 pad 2 -> [B, 6, 28, 28] -> pool -> [B, 6, 14, 14]
    //   -> conv 5x5 -> [B, 16, 10, 10] -> pool -> [B, 16, 5, 5] -> 400 -> 120 -> 84 -> 10
    seq->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 1, .out = 6, .kernel = 5, .padding = 2}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::MaxPool2d>(2));
    seq->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions{.in = 6, .out = 16, .kernel = 5}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::MaxPool2d>(2));
    seq->push_back(std::make_shared<nn::Flatten>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 400, .out = 120}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 120, .out = 84}, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 84, .out = 10}, gen));
  } else {
    TG_CHECK(false, "unknown model '", arch, "' (expected mlp or lenet)");
  }
  return seq;
}

int64_t head_index(const nn::Sequential& model) { return int64_t(model.size()) - 1; }

static tg::Tensor model_input(const std::string& arch, const tg::Tensor& x) {
  return arch == "mlp" ? x.reshape({x.size(0), 784}) : x;
}

// ---------------------------------------------------------------- data
// scripts/get-data writes the digits to <source tree>/data/mnist-digits: that
// folder relative to the working directory, else the source tree's own.
std::string mnist_digits_root() {
  const std::string rel = "data/mnist-digits";
#ifdef TAPEGRAD_SOURCE_DIR
  if (!fs::is_directory(rel) && fs::is_directory(TAPEGRAD_SOURCE_DIR "/data/mnist-digits"))
    return TAPEGRAD_SOURCE_DIR "/data/mnist-digits";
#endif
  return rel;
}

std::shared_ptr<tg::data::MNIST> open_dataset(const std::string& name, const std::string& root, tg::data::Split split) {
  if (name == "fashion-mnist")
    return std::make_shared<tg::data::FashionMNIST>(root.empty() ? tg::data::FashionMNIST::kSystemRoot : root, split);
  if (name == "mnist-digits") return std::make_shared<tg::data::MNIST>(root.empty() ? mnist_digits_root() : root, split);
  TG_CHECK(false, "unknown data set '", name, "' (expected fashion-mnist or mnist-digits)");
  return nullptr;
}

std::vector<std::string> class_names(const std::string& data) {
  if (data == "fashion-mnist") {
    const auto& n = tg::data::FashionMNIST::class_names();
    return std::vector<std::string>(n.begin(), n.end());
  }
  std::vector<std::string> d;
  for (int i = 0; i < 10; ++i) d.push_back(std::to_string(i));
  return d;
}

// ---------------------------------------------------------------- helpers
namespace {

struct Eval {
  double loss = 0, acc = 0;
  std::vector<int64_t> predictions;
};

Eval evaluate(nn::Sequential& model, const std::string& arch, const tg::data::MNIST& ds) {
  tg::NoGradGuard no_grad;
  model.eval();
  Eval r;
  const int64_t n = ds.size(), B = 1000;
  double loss_sum = 0;
  int64_t correct = 0;
  std::vector<int64_t> idx;
  for (int64_t s = 0; s < n; s += B) {
    idx.clear();
    for (int64_t i = s; i < std::min(n, s + B); ++i) idx.push_back(i);
    tg::data::Example b = ds.get_batch(idx);
    tg::Tensor logits = model.forward(model_input(arch, b.data));
    loss_sum += tg::F::cross_entropy(logits, b.target, {.reduction = tg::nn::Reduction::Sum}).item<double>();
    const auto pred = tg::argmax(logits, 1).to_vector<int64_t>();
    const auto truth = b.target.to_vector<int64_t>();
    for (size_t i = 0; i < pred.size(); ++i) {
      correct += pred[i] == truth[i];
      r.predictions.push_back(pred[i]);
    }
  }
  r.loss = n ? loss_sum / double(n) : 0;
  r.acc = n ? double(correct) / double(n) : 0;
  model.train();
  return r;
}

void check_writable_folder(const std::string& out) {
  TG_CHECK(!out.empty(), "--out: an output folder is required");
  std::error_code ec;
  fs::create_directories(out, ec);
  TG_CHECK(!ec, "cannot create the output folder '", out, "': ", ec.message());
  const std::string probe = out + "/.write-test";
  {
    std::ofstream f(probe);
    TG_CHECK(f.good(), "the output folder '", out, "' is not writable");
  }
  fs::remove(probe);
}

std::unique_ptr<tg::optim::Optimizer> make_optimizer(const std::string& name,
                                                     std::vector<std::pair<std::vector<tg::Tensor>, double>> groups) {
  if (name == "adam") {
    std::vector<tg::optim::ParamGroup<tg::optim::AdamOptions>> g;
    for (auto& [p, lr] : groups) g.push_back({p, {.lr = lr}});
    return std::make_unique<tg::optim::Adam>(g);
  }
  if (name == "adamw") {
    std::vector<tg::optim::ParamGroup<tg::optim::AdamWOptions>> g;
    for (auto& [p, lr] : groups) g.push_back({p, {.lr = lr}});
    return std::make_unique<tg::optim::AdamW>(g);
  }
  if (name == "sgd") {
    std::vector<tg::optim::ParamGroup<tg::optim::SGDOptions>> g;
    for (auto& [p, lr] : groups) g.push_back({p, {.lr = lr, .momentum = 0.9}});
    return std::make_unique<tg::optim::SGD>(g);
  }
  TG_CHECK(false, "unknown optimizer '", name, "' (expected sgd, adam or adamw)");
  return nullptr;
}

std::vector<tg::Tensor> trainable(const std::vector<tg::Tensor>& ps) {
  std::vector<tg::Tensor> out;
  for (const auto& p : ps)
    if (p.requires_grad()) out.push_back(p);
  return out;
}

// ---- numerical safety: a NaN/Inf loss stops the run with the step and the culprit.
bool all_finite(const tg::Tensor& t) {
  if (!t.defined()) return true;
  const tg::Tensor c = t.detach().contiguous();
  const int64_t n = c.numel();
  if (c.dtype() == tg::kFloat32) {
    const float* p = c.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return false;
  } else if (c.dtype() == tg::kFloat64) {
    const double* p = c.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return false;
  }
  return true;
}

std::string kept_checkpoint(const std::string& out, int epochs_done, bool earlier_run) {
  if (epochs_done == 0 && earlier_run) return "This run wrote no checkpoint; the earlier run in " + out + " is left as it was";
  if (epochs_done == 0) return "No checkpoint was written";
  return "The last good checkpoint (after epoch " + std::to_string(epochs_done) + ") in " + out + " is kept";
}

// Cross-entropy over 10 classes is log(10) = 2.3 at chance; a loss above this
// means logits a million apart: the run has diverged even before overflowing.
constexpr double kDivergedLoss = 1e6;

std::string largest_parameter(nn::Sequential& model) {
  std::string name;
  double big = -1;
  for (const auto& [k, p] : model.named_parameters()) {
    const double m = tg::max(tg::abs(p.detach())).item<double>();
    if (m > big) big = m, name = k;
  }
  std::ostringstream os;
  os << "the largest weight is |" << big << "| in parameter '" << name << "'";
  return os.str();
}

// Names what went non-finite first: a parameter, else the first layer whose
// output is non-finite on this batch, else the loss itself, else (re-running
// the step's backward in anomaly mode) the op whose backward made NaN/Inf.
std::string non_finite_culprit(nn::Sequential& model, const std::string& arch, const tg::data::Example& batch) {
  for (const auto& [name, p] : model.named_parameters())
    if (!all_finite(p)) return "parameter '" + name + "' holds NaN or Inf (it was updated to a non-finite value)";
  {
    tg::NoGradGuard no_grad;
    tg::Tensor x = model_input(arch, batch.data);
    if (!all_finite(x)) return "the input batch holds NaN or Inf";
    for (size_t i = 0; i < model.size(); ++i) {
      x = model[int64_t(i)]->forward(x);
      if (!all_finite(x))
        return "the output of layer " + std::to_string(i) + " (" + model[int64_t(i)]->type_name() + ") is NaN or Inf";
    }
    if (!all_finite(tg::F::cross_entropy(x, batch.target))) return "op 'cross_entropy' returned NaN or Inf";
  }
  try {
    tg::autograd::DetectAnomalyGuard anomaly;
    tg::Tensor loss = tg::F::cross_entropy(model.forward(model_input(arch, batch.data)), batch.target);
    loss.backward();
  } catch (const tg::Error& e) {
    model.zero_grad();
    return std::string("re-run in anomaly mode: ") + e.what();
  }
  for (const auto& [name, p] : model.named_parameters())
    if (!all_finite(p.grad())) return "the gradient of parameter '" + name + "' is NaN or Inf";
  return "no single culprit found (the loss was non-finite only in the training step)";
}

// The settings that must match between a run and its resume.
std::map<std::string, std::string> run_metadata(const RunConfig& c) {
  std::ostringstream lr, hl, bl;
  lr << std::setprecision(17) << c.lr;
  hl << std::setprecision(17) << c.head_lr;
  bl << std::setprecision(17) << c.backbone_lr;
  return {{"arch", c.model},        {"data", c.data},           {"batch_size", std::to_string(c.batch_size)},
          {"optimizer", c.optimizer}, {"lr", lr.str()},           {"seed", std::to_string(c.seed)},
          {"limit", std::to_string(c.limit)}, {"sample", c.sample}, {"mode", c.from.empty() && c.mode != "scratch" ? "train" : c.mode},
          {"head_lr", hl.str()},    {"backbone_lr", bl.str()},  {"epochs", std::to_string(c.epochs)}};
}

void save_train_state(const std::string& out, nn::Sequential& model, const tg::optim::OptimizerState& st,
                      const std::map<std::string, std::string>& meta, int epoch, const tg::data::LoaderState& ls) {
  auto m = meta;
  m["epochs_done"] = std::to_string(epoch);
  m["loader_epoch"] = std::to_string(ls.epoch);
  m["loader_batch"] = std::to_string(ls.batch);
  for (auto& [k, v] : st.metadata) m["optim." + k] = v;
  std::map<std::string, tg::Tensor> tensors;
  for (auto& [k, v] : st.tensors) tensors["optim." + k] = v;
  for (auto& [k, v] : model.named_parameters()) tensors["model." + k] = v.detach();
  for (auto& [k, v] : model.named_buffers()) tensors["model." + k] = v.detach();
  tg::save_safetensors(out + "/train_state.safetensors", tensors, m);
}

// Testing hook (--crash-after-write <file>@<epoch>): SIGKILL right after a write.
void crash_point(const RunConfig& cfg, const char* file, int epoch) {
  if (!cfg.crash_after_write.empty() && cfg.crash_after_write == std::string(file) + "@" + std::to_string(epoch)) {
    std::fflush(nullptr);
    ::raise(SIGKILL);
  }
}

// The model file users get: the weights and the run's metadata.
void write_model(const std::string& out, nn::Sequential& model, std::map<std::string, std::string> meta, int epochs_done,
                 size_t classes) {
  meta["epoch"] = std::to_string(epochs_done);
  meta["classes"] = std::to_string(classes);
  tg::save(model, out + "/model.safetensors", meta);
}

void write_predictions(const std::string& out, const tg::data::MNIST& test, const std::vector<int64_t>& pred,
                       const std::vector<std::string>& names) {
  std::vector<Prediction> ps;
  const int64_t n = std::min<int64_t>(60, test.size());
  // Show the first mistakes and the first correct ones, 60 images in all.
  std::vector<int64_t> wrong, right;
  for (int64_t i = 0; i < test.size() && int64_t(wrong.size() + right.size()) < 4 * n; ++i)
    (pred[size_t(i)] != test.label(i) ? wrong : right).push_back(i);
  std::vector<int64_t> pick(wrong.begin(), wrong.begin() + std::min<int64_t>(int64_t(wrong.size()), n / 3));
  for (int64_t i : right)
    if (int64_t(pick.size()) < n) pick.push_back(i);
  std::sort(pick.begin(), pick.end());
  for (int64_t i : pick) ps.push_back({test.images() + i * 784, int(test.label(i)), int(pred[size_t(i)])});
  write_file_atomic(out + "/predictions.svg", predictions_svg(ps, names, 10));
}

}  // namespace

// ---------------------------------------------------------------- train / finetune
tg::data::DatasetPtr training_examples(const RunConfig& cfg, tg::data::DatasetPtr full) {
  TG_CHECK(cfg.sample == "first" || cfg.sample == "random" || cfg.sample == "balanced",
           "--sample must be first, random or balanced, got '", cfg.sample, "'");
  if (cfg.limit == 0) return full;
  const int64_t n = full->size();
  TG_CHECK(cfg.limit <= n, "--limit ", cfg.limit, " is larger than the training split (", n, " examples)");
  if (cfg.sample == "first") return tg::data::take(std::move(full), cfg.limit);
  // Random choices come from a stream of their own, seeded by --seed: the
  // same seed picks the same examples whatever the model or mode.
  tg::Generator pick(cfg.seed ^ 0x73616D706C65ull);  // "sample"
  if (cfg.sample == "random") return tg::data::random_split(std::move(full), {cfg.limit, n - cfg.limit}, pick)[0];
  // balanced: limit / K examples of each of the K classes (the first
  // limit % K classes one more), the first ones of each class met along a
  // random permutation.
  std::vector<int64_t> label(static_cast<size_t>(n));
  int64_t classes = 0;
  for (int64_t i = 0; i < n; ++i) {
    label[size_t(i)] = full->get(i).target.item<int64_t>();
    TG_CHECK(label[size_t(i)] >= 0, "--sample balanced: example ", i, " has the negative label ", label[size_t(i)]);
    classes = std::max(classes, label[size_t(i)] + 1);
  }
  std::vector<int64_t> quota(static_cast<size_t>(classes), cfg.limit / classes);
  for (int64_t c = 0; c < cfg.limit % classes; ++c) ++quota[size_t(c)];
  std::vector<int64_t> chosen;
  for (int64_t i : tg::data::random_permutation(n, pick))
    if (quota[size_t(label[size_t(i)])] > 0) {
      --quota[size_t(label[size_t(i)])];
      chosen.push_back(i);
    }
  for (int64_t c = 0; c < classes; ++c)
    TG_CHECK(quota[size_t(c)] == 0, "--sample balanced: class ", c, " has too few examples for --limit ", cfg.limit,
             " (", quota[size_t(c)], " missing)");
  return std::make_shared<tg::data::Subset>(std::move(full), std::move(chosen));
}

std::string data_fingerprint(const tg::data::MNIST& full, const tg::data::Dataset& train) {
  const auto* subset = dynamic_cast<const tg::data::Subset*>(&train);
  TG_CHECK(&train == &full || (subset && subset->base().get() == &full),
           "data_fingerprint: the training examples are neither the data set nor a subset of it");
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  const auto add = [&h](const uint8_t* p, size_t n) {
    for (size_t k = 0; k < n; ++k) h = (h ^ p[k]) * 0x100000001b3ull;
  };
  const int64_t n = train.size();
  const uint8_t* labels = full.labels();
  const uint8_t* images = full.images();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = subset ? subset->indices()[size_t(i)] : i;
    add(labels + j, 1);
    add(images + j * 784, 784);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  return "n=" + std::to_string(n) + " fnv1a64=" + hex;
}

RunResult run_train(const RunConfig& cfg) {
  TG_CHECK(cfg.epochs >= 1, "--epochs must be >= 1, got ", cfg.epochs);
  TG_CHECK(cfg.batch_size >= 1, "--batch-size must be >= 1, got ", cfg.batch_size);
  TG_CHECK(cfg.lr > 0 && std::isfinite(cfg.lr), "--lr must be a finite number > 0, got ", cfg.lr);
  TG_CHECK(cfg.head_lr > 0 && std::isfinite(cfg.head_lr), "--head-lr must be a finite number > 0, got ", cfg.head_lr);
  TG_CHECK(cfg.backbone_lr > 0 && std::isfinite(cfg.backbone_lr), "--backbone-lr must be a finite number > 0, got ",
           cfg.backbone_lr);
  TG_CHECK(cfg.limit >= 0, "--limit must be >= 0, got ", cfg.limit);
  if (cfg.threads > 0) tg::set_num_threads(cfg.threads);
  const bool finetune = !cfg.from.empty() || cfg.mode == "scratch";
  // Data first: a missing data set should fail before anything is written.
  auto train_full = open_dataset(cfg.data, cfg.data_root, tg::data::Split::Train);
  auto test = open_dataset(cfg.data, cfg.data_root, tg::data::Split::Test);
  tg::data::DatasetPtr train = training_examples(cfg, train_full);
  check_writable_folder(cfg.out);
  fs::remove(cfg.out + "/.paused");

  tg::Generator gen(cfg.seed);
  auto model = make_model(cfg.model, gen);
  const std::string arch = cfg.model;
  std::vector<std::pair<std::vector<tg::Tensor>, double>> groups;
  if (finetune) {
    TG_CHECK(cfg.mode == "full" || cfg.mode == "frozen" || cfg.mode == "scratch", "--mode must be full, frozen or scratch, got '",
             cfg.mode, "'");
    if (cfg.mode != "scratch") {
      TG_CHECK(!cfg.from.empty(), "finetune --mode ", cfg.mode, " needs --from <model.safetensors>");
      tg::LoadResult r = tg::load(*model, cfg.from, {.strict = false});
      TG_CHECK(!r.loaded.empty(), "--from ", cfg.from, ": no tensor matches the ", arch, " model (", r.unexpected.size(),
               " unexpected keys, e.g. '", r.unexpected.empty() ? std::string() : r.unexpected[0],
               "'); is it a checkpoint of another architecture?");
      TG_CHECK(r.mismatched.empty(), "--from ", cfg.from, ": ", r.mismatched.size(), " tensors do not fit the ", arch,
               " model, e.g. ", r.mismatched[0]);
      // A fresh head: the pretrained classifier is replaced, the backbone kept.
      const int64_t h = head_index(*model);
      auto old = model->at<nn::Linear>(h);
      model->replace(h, std::make_shared<nn::Linear>(
                            nn::LinearOptions{.in = old->options().in, .out = old->options().out}, gen));
    }
    auto head = (*model)[head_index(*model)];
    std::vector<tg::Tensor> backbone;
    for (int64_t i = 0; i < head_index(*model); ++i)
      for (auto& p : (*model)[i]->parameters()) backbone.push_back(p);
    if (cfg.mode == "frozen") {
      for (int64_t i = 0; i < head_index(*model); ++i) (*model)[i]->requires_grad_(false);
      groups.push_back({head->parameters(), cfg.head_lr});
    } else if (cfg.mode == "full") {
      groups.push_back({backbone, cfg.backbone_lr});
      groups.push_back({head->parameters(), cfg.head_lr});
    } else {
      groups.push_back({model->parameters(), cfg.lr});
    }
  } else {
    groups.push_back({model->parameters(), cfg.lr});
  }
  auto opt = make_optimizer(cfg.optimizer, groups);
  auto meta = run_metadata(cfg);
  const std::string fingerprint = data_fingerprint(*train_full, *train);
  meta["data_fingerprint"] = fingerprint;
  const auto names = class_names(cfg.data);

  tg::data::DataLoader loader(train, {.batch_size = cfg.batch_size, .shuffle = true, .seed = cfg.seed, .drop_last = false});
  int start_epoch = 0;
  const std::string state_path = cfg.out + "/train_state.safetensors";
  // A kill during a checkpoint save leaves its temporary behind (a later save
  // that meets the same name takes the next one, so nothing would remove it):
  // remove those of this folder.
  {
    std::error_code ec;
    for (fs::directory_iterator it(cfg.out, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string n = it->path().filename().string();
      if (n.starts_with("train_state.safetensors.tmp.") || n.starts_with("model.safetensors.tmp."))
        fs::remove(it->path(), ec);
    }
  }
  const std::string metrics_path = cfg.out + "/metrics.csv";
  // Without --resume, an earlier run in the folder stays as it is until this
  // run's first checkpoint replaces it (a kill before then loses nothing).
  const bool earlier_run = !cfg.resume && (fs::exists(state_path) || fs::exists(cfg.out + "/model.safetensors") ||
                                           fs::exists(metrics_path));
  if (earlier_run && !cfg.quiet)
    std::fprintf(stderr,
                 "tapegrad: note: %s holds an earlier run; this run replaces it when its first epoch ends "
                 "(--resume continues it instead)\n",
                 cfg.out.c_str());
  std::vector<EpochMetrics> rows;  // metrics.csv as written so far
  if (cfg.resume) {
    TG_CHECK(fs::exists(state_path), "--resume: ", state_path, " does not exist (nothing to resume)");
    tg::SafetensorsFile st = tg::load_safetensors(state_path);
    for (const auto& [k, v] : meta)
      if (k != "epochs" && k != "data_fingerprint") {
        auto it = st.metadata.find(k);
        TG_CHECK(it != st.metadata.end() && it->second == v, "--resume: the run in ", cfg.out, " was made with ", k, "=",
                 it == st.metadata.end() ? std::string("(none)") : printable(it->second), ", this command says ", k,
                 "=", v);
      }
    const auto fp = st.metadata.find("data_fingerprint");
    if (fp == st.metadata.end()) {
      std::fprintf(stderr,
                   "tapegrad: note: %s has no data_fingerprint (written by an older tapegrad): cannot check that "
                   "the training data is the run's\n",
                   state_path.c_str());
    } else {
      TG_CHECK(fp->second == fingerprint, "--resume: the run in ", cfg.out,
               " was trained on other data: its checkpoint ", state_path, " records training examples with ",
               printable(fp->second), ", but ", cfg.data, " in '",
               cfg.data_root.empty() ? std::string("(the default folder)") : cfg.data_root, "' (",
               train_full->images_path(), ") gives ", fingerprint,
               " (the same files moved, or gzipped or not, resume; other files do not)");
    }
    const auto done = st.metadata.find("epochs_done");
    TG_CHECK(done != st.metadata.end(), "resume: '", state_path,
             "' has no epochs_done in its metadata (not a checkpoint written by tapegrad train?)");
    int64_t epochs_done = -1;
    TG_CHECK(parse_whole(done->second, epochs_done), "resume: '", state_path,
             "': the metadata key 'epochs_done' is not an integer: '", printable(done->second), "'");
    TG_CHECK(epochs_done >= 0 && epochs_done <= cfg.epochs, "resume: '", state_path, "' says epochs_done = ",
             epochs_done, ", outside [0, ", cfg.epochs, "] for this run");
    // tapegrad checkpoints finite values only: NaN/Inf here is damage, not divergence.
    for (const auto& [k, v] : st.tensors)
      TG_CHECK(all_finite(v), "resume: '", state_path, "' is damaged: tensor '", k,
               "' holds NaN or Inf (tapegrad writes checkpoints of finite values only)");
    std::map<std::string, tg::Tensor> mt;
    tg::optim::OptimizerState os;
    for (auto& [k, v] : st.tensors) {
      if (k.rfind("model.", 0) == 0) mt[k.substr(6)] = v;
      else if (k.rfind("optim.", 0) == 0) os.tensors[k.substr(6)] = v;
    }
    for (auto& [k, v] : st.metadata)
      if (k.rfind("optim.", 0) == 0) os.metadata[k.substr(6)] = v;
    tg::load_state_dict(*model, mt, {.strict = true}, state_path);
    try {
      opt->load_state_dict(os);
    } catch (const tg::Error& e) {
      tg::detail::throw_error("resume: '", state_path, "' (keys optim.*): ", e.what());
    }
    start_epoch = int(epochs_done);
    // Metrics of epochs after the checkpoint (a kill between two writes) are
    // dropped; the rows up to it must all be there.
    rows = read_metrics_csv(metrics_path, start_epoch);
    for (size_t i = 0; i < size_t(start_epoch); ++i)
      TG_CHECK(i < rows.size() && rows[i].epoch == int(i + 1), "resume: ", metrics_path, " does not match ", state_path,
               " (after epoch ", start_epoch, "): ",
               i < rows.size() ? "its row " + std::to_string(i + 1) + " is of epoch " + std::to_string(rows[i].epoch)
                               : "it has no row for epoch " + std::to_string(i + 1),
               "; expected one row for each of epochs 1..", start_epoch);
    TG_CHECK(rows.size() == size_t(start_epoch), "resume: ", metrics_path, " has ", rows.size(), " rows up to epoch ",
             start_epoch, ", expected ", start_epoch);
    // The files the checkpoint writes after train_state.safetensors, rewritten
    // from the restored state: a kill between the checkpoint's writes left them
    // stale or missing (with the last epoch's, nothing else would rewrite them).
    write_file_atomic(metrics_path, metrics_csv_text(rows));
    if (start_epoch > 0) {
      write_model(cfg.out, *model, meta, start_epoch, names.size());
      write_file_atomic(cfg.out + "/curves.svg", curves_svg(rows, arch + " on " + cfg.data));
    }
    if (!cfg.quiet) std::printf("resuming %s after epoch %d\n", cfg.out.c_str(), start_epoch);
  }

  RunResult res;
  int64_t batches_run = 0;
  Eval last;
  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    loader.set_epoch(epoch);
    model->train();
    Progress bar(epoch + 1, cfg.epochs, loader.batches_per_epoch());
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      if (cfg.stop_after_batches >= 0 && batches_run >= cfg.stop_after_batches) {
        if (!cfg.quiet) std::printf("stopping after %lld batches (--stop-after-batches)\n", (long long)batches_run);
        res.epochs_done = epoch;
        return res;
      }
      if (cfg.pause_after_batches >= 0 && batches_run == cfg.pause_after_batches) {
        std::ofstream(cfg.out + "/.paused") << batches_run << "\n";
        for (;;) ::pause();  // until a signal ends the process
      }
      tg::data::Example batch = loader.next();
      tg::Tensor logits = model->forward(model_input(arch, batch.data));
      tg::Tensor loss = tg::F::cross_entropy(logits, batch.target);
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value) || loss_value > kDivergedLoss) {
        std::ostringstream why;
        if (std::isfinite(loss_value))
          why << "the loss exceeds " << kDivergedLoss << " (no NaN yet); " << largest_parameter(*model);
        else
          why << non_finite_culprit(*model, arch, batch);
        tg::detail::throw_error("training diverged: the loss is ", loss_value, " at step ",
                                int64_t(epoch) * loader.batches_per_epoch() + b + 1, " (epoch ",
                                epoch + 1, ", batch ", b + 1, "): ", why.str(), ". ", kept_checkpoint(cfg.out, epoch, earlier_run), "; try a smaller --lr");
      }
      opt->zero_grad();
      loss.backward();
      opt->step();
      ++batches_run;
      const int64_t n = batch.target.size(0);
      loss_sum += loss_value * double(n);
      {
        const auto pred = tg::argmax(logits.detach(), 1).to_vector<int64_t>();
        const auto truth = batch.target.to_vector<int64_t>();
        for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
      }
      seen += n;
      bar.update(b, loss_sum / double(seen), double(correct) / double(seen), seen);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish();
    last = evaluate(*model, arch, *test);
    // Never checkpoint non-finite weights (the epoch's last update may have made them).
    for (const auto& [name, p] : model->named_parameters())
      TG_CHECK(all_finite(p), "training diverged: parameter '", name, "' holds NaN or Inf after step ",
               int64_t(epoch + 1) * loader.batches_per_epoch(),
               " (end of epoch ", epoch + 1, "). ", kept_checkpoint(cfg.out, epoch, earlier_run), "; try a smaller --lr");
    // Finite but huge weights can overflow the test logits: diverged too.
    if (!std::isfinite(last.loss))
      tg::detail::throw_error("training diverged: the test loss is ", last.loss, " after epoch ", epoch + 1, " (",
                              largest_parameter(*model), "). ", kept_checkpoint(cfg.out, epoch, earlier_run),
                              "; try a smaller --lr");
    // Nor non-finite optimizer state (moments overflowed by huge gradients).
    const tg::optim::OptimizerState ost = opt->state_dict();
    for (const auto& [name, t] : ost.tensors)
      TG_CHECK(all_finite(t), "training diverged: the optimizer state '", name, "' holds NaN or Inf after epoch ",
               epoch + 1, ". ", kept_checkpoint(cfg.out, epoch, earlier_run), "; try a smaller --lr");
    EpochMetrics m{epoch + 1, loss_sum / double(std::max<int64_t>(seen, 1)), double(correct) / double(std::max<int64_t>(seen, 1)),
                   last.loss, last.acc, secs};
    if (!cfg.quiet)
      std::printf("epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.2f s (%.0f samples/s)\n", epoch + 1,
                  cfg.epochs, m.train_loss, 100 * m.train_acc, m.test_loss, 100 * m.test_acc, secs, double(seen) / secs);
    // Checkpoint, each file atomically. A kill between two writes is repaired
    // by --resume (see app.h): metrics.csv first (resume drops rows after the
    // checkpoint), then the resumable state, then the files for users. The
    // first checkpoint of a run replacing an earlier one removes the earlier
    // train_state.safetensors first: the folder never pairs it with new rows.
    if (epoch == 0 && earlier_run) {
      fs::remove(state_path);
      fs::remove(cfg.out + "/predictions.svg");
    }
    rows.push_back(m);
    write_file_atomic(metrics_path, metrics_csv_text(rows));
    crash_point(cfg, "metrics.csv", epoch + 1);
    rows = read_metrics_csv(metrics_path);  // as written: the curves of a resumed run use the same numbers
    auto mm = meta;
    mm["epoch"] = std::to_string(epoch + 1);
    mm["classes"] = std::to_string(names.size());
    save_train_state(cfg.out, *model, ost, mm, epoch + 1, loader.state());
    crash_point(cfg, "train_state.safetensors", epoch + 1);
    write_model(cfg.out, *model, meta, epoch + 1, names.size());
    crash_point(cfg, "model.safetensors", epoch + 1);
    write_file_atomic(cfg.out + "/curves.svg", curves_svg(rows, arch + " on " + cfg.data));
    crash_point(cfg, "curves.svg", epoch + 1);
    res.epochs_done = epoch + 1;
  }
  if (res.epochs_done == 0) res.epochs_done = start_epoch;
  if (last.predictions.empty()) last = evaluate(*model, arch, *test);
  write_predictions(cfg.out, *test, last.predictions, names);
  res.test_acc = last.acc;
  res.test_loss = last.loss;
  return res;
}

RunResult run_finetune(const RunConfig& cfg) { return run_train(cfg); }

// ---------------------------------------------------------------- eval / inspect
int run_eval(const std::string& model_path, std::string data, const std::string& root, int64_t limit) {
  tg::SafetensorsFile f = tg::load_safetensors(model_path);
  auto it = f.metadata.find("arch");
  TG_CHECK(it != f.metadata.end(), model_path, ": no 'arch' in the metadata; was it written by tapegrad train?");
  tg::Generator gen(0);
  auto model = make_model(it->second, gen);
  tg::load(*model, model_path, {.strict = true});
  // Without --data, the data set the model was trained on (its metadata).
  const auto trained_on = f.metadata.find("data");
  if (data.empty()) data = trained_on != f.metadata.end() ? trained_on->second : "fashion-mnist";
  else if (trained_on != f.metadata.end() && trained_on->second != data)
    std::fprintf(stderr, "tapegrad: note: %s was trained on %s, evaluating on %s\n", model_path.c_str(),
                 trained_on->second.c_str(), data.c_str());
  auto test = open_dataset(data, root, tg::data::Split::Test);
  Eval e = evaluate(*model, it->second, *test);
  const auto names = class_names(data);
  int64_t conf[10][10] = {};
  for (int64_t i = 0; i < test->size(); ++i) conf[test->label(i)][e.predictions[size_t(i)]]++;
  std::printf("%s on %s test (%lld images): accuracy %.2f%%, loss %.4f\n\n", it->second.c_str(), data.c_str(),
              (long long)test->size(), 100 * e.acc, e.loss);
  std::printf("%-12s %8s   confusion (rows: true, columns: predicted)\n", "class", "acc");
  for (int t = 0; t < 10; ++t) {
    int64_t row = 0;
    for (int p = 0; p < 10; ++p) row += conf[t][p];
    std::printf("%-12s %7.2f%%  ", names[size_t(t)].c_str(), row ? 100.0 * double(conf[t][t]) / double(row) : 0.0);
    for (int p = 0; p < 10; ++p) std::printf(" %5lld", (long long)conf[t][p]);
    std::printf("\n");
  }
  (void)limit;
  return 0;
}

int run_inspect(const std::string& path) {
  tg::SafetensorsFile f = tg::load_safetensors(path);
  int64_t total = 0;
  size_t w = 4;
  for (const auto& [k, v] : f.tensors) w = std::max(w, k.size());
  std::printf("%s: %zu tensors\n", path.c_str(), f.tensors.size());
  for (const auto& [k, v] : f.tensors) {
    std::printf("  %-*s %-8s %s\n", int(w), k.c_str(), tg::dtype_name(v.dtype()), tg::to_string(v.shape()).c_str());
    total += v.numel();
  }
  std::printf("parameters: %lld\n", (long long)total);
  for (const auto& [k, v] : f.metadata) std::printf("  metadata %s = %s\n", k.c_str(), v.c_str());
  return 0;
}

}  // namespace tgapp
