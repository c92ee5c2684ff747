// The tapegrad command's building blocks: the two model architectures, the
// data sets by name, and train / finetune / eval / inspect as functions the
// CLI (main.cc) and the tests call.
//
// A run folder holds: model.safetensors (weights + metadata: arch, data set,
// classes, epoch), train_state.safetensors (everything resume needs in one
// atomically written file: weights, optimizer moments and step counts, the
// data cursor, the generator state, the run's settings and a fingerprint of
// its training examples), metrics.csv, curves.svg and predictions.svg.
//
// Each epoch's checkpoint writes, each file atomically: metrics.csv (all rows),
// train_state.safetensors, model.safetensors, curves.svg. --resume starts from
// train_state.safetensors, drops the metrics rows of later epochs, and rewrites
// metrics.csv, model.safetensors and curves.svg from the restored state, so a
// kill between any two writes resumes to the uninterrupted run's files. A run
// without --resume into a folder holding an earlier run leaves the earlier
// run's files untouched until its own first checkpoint replaces them.
#pragma once
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/tapegrad.h"

namespace tgapp {

// Whether all of s is one integer that fits T (no sign '+', no spaces):
// what the options and the checkpoint's integer metadata accept.
template <class T>
bool parse_whole(std::string_view s, T& x) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  return ec == std::errc() && end == s.data() + s.size();
}

struct RunConfig {
  std::string model = "lenet";          // mlp | lenet
  std::string data = "fashion-mnist";   // fashion-mnist | mnist-digits
  std::string data_root;                // default: the data set's standard folder
  std::string out;                      // run folder
  int epochs = 3;
  int64_t batch_size = 64;
  std::string optimizer = "adam";       // sgd | adam | adamw
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;                      // 0: all cores
  int64_t limit = 0;                    // 0: the whole training split
  std::string sample = "first";         // which --limit examples: first | random | balanced (drawn with --seed)
  bool resume = false;
  bool quiet = false;
  // finetune only
  std::string from;                     // pretrained model.safetensors
  std::string mode = "full";            // full | frozen | scratch
  double head_lr = 1e-3;
  double backbone_lr = 1e-3;
  // testing hook: stop (as if killed) after this many training batches in total
  int64_t stop_after_batches = -1;
  // testing hook: after this many training batches, create <out>/.paused and
  // sleep until killed (lets a test SIGKILL the process mid-epoch, deterministically)
  int64_t pause_after_batches = -1;
  // testing hook: "<file>@<epoch>" (file: metrics.csv, train_state.safetensors,
  // model.safetensors or curves.svg) SIGKILLs the process right after that
  // file of that epoch's checkpoint is written (a kill between two writes)
  std::string crash_after_write;
};

std::shared_ptr<tg::nn::Sequential> make_model(const std::string& arch, tg::Generator& gen);
// The index of the classification head inside the Sequential (its last layer).
int64_t head_index(const tg::nn::Sequential& model);

std::shared_ptr<tg::data::MNIST> open_dataset(const std::string& name, const std::string& root, tg::data::Split split);
std::vector<std::string> class_names(const std::string& data);

// The training examples a run uses: all of `full`, or --limit of them: the
// first ones, a random choice (--sample random) or a random choice with the
// same number of each class (--sample balanced), drawn with --seed.
tg::data::DatasetPtr training_examples(const RunConfig& cfg, tg::data::DatasetPtr full);

// A fingerprint of the training examples a run uses ("n=<count> fnv1a64=<16 hex
// digits>": FNV-1a over each example's label byte and 784 pixel bytes, in
// order): the same for the same examples wherever the files are and whether
// they are gzipped. `train` is `full` or a Subset of it (training_examples).
std::string data_fingerprint(const tg::data::MNIST& full, const tg::data::Dataset& train);

struct RunResult {
  double test_acc = 0, test_loss = 0;
  int epochs_done = 0;
};
RunResult run_train(const RunConfig& cfg);     // also runs finetune when cfg.from / cfg.mode say so
RunResult run_finetune(const RunConfig& cfg);
int run_eval(const std::string& model_path, std::string data, const std::string& root, int64_t limit);
int run_inspect(const std::string& path);

}  // namespace tgapp
