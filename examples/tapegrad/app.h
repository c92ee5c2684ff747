// The tapegrad command's building blocks: the two model architectures, the
// data sets by name, and train / finetune / eval / inspect as functions the
// CLI (main.cc) and the tests call.
//
// A run folder holds: model.safetensors (weights + metadata: arch, data set,
// classes, epoch), train_state.safetensors (everything resume needs in one
// atomically written file: weights, optimizer moments and step counts, the
// data cursor, the generator state, the run's settings), metrics.csv,
// curves.svg and predictions.svg.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.h"

namespace tgapp {

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

struct RunResult {
  double test_acc = 0, test_loss = 0;
  int epochs_done = 0;
};
RunResult run_train(const RunConfig& cfg);     // also runs finetune when cfg.from / cfg.mode say so
RunResult run_finetune(const RunConfig& cfg);
int run_eval(const std::string& model_path, std::string data, const std::string& root, int64_t limit);
int run_inspect(const std::string& path);

}  // namespace tgapp
