// What the tapegrad command writes into a run folder besides checkpoints:
// per-epoch metrics (metrics.csv), loss/accuracy curves (curves.svg), a grid of
// test predictions (predictions.svg), and a terminal progress bar.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tgapp {

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
  double epoch_seconds = 0;  // the training loop alone (no evaluation, no checkpoint)
};

// Appends one row (writing the header first when the file is new or empty).
void append_metrics_csv(const std::string& path, const EpochMetrics& m);
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

// Two panels (loss, accuracy) with train and test lines per epoch; plain SVG.
std::string curves_svg(const std::vector<EpochMetrics>& rows, const std::string& title);

struct Prediction {
  const uint8_t* pixels = nullptr;  // 28*28 bytes, row-major
  int truth = 0, predicted = 0;
};
// A grid of images with "true / predicted" labels; mistakes framed in red.
std::string predictions_svg(const std::vector<Prediction>& preds, const std::vector<std::string>& class_names,
                            int columns = 10);

// Writes text to path atomically (temp file in the same folder, then rename).
void write_file_atomic(const std::string& path, const std::string& text);

// A one-line progress bar on a terminal; silent when stdout is not a terminal
// (the caller then prints one line per epoch).
class Progress {
 public:
  Progress(int epoch, int epochs, int64_t batches);
  void update(int64_t batch, double loss, double acc, int64_t samples);
  void finish();
  bool on_terminal() const { return tty_; }

 private:
  int epoch_, epochs_;
  int64_t batches_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace tgapp
