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

// The header line of metrics.csv (without its newline).
extern const char* const kMetricsHeader;

// Appends one row (writing the header first when the file is new or empty).
void append_metrics_csv(const std::string& path, const EpochMetrics& m);
// The whole text of a metrics.csv holding these rows: the header, then one
// line per row, formatted as append_metrics_csv formats them.
std::string metrics_csv_text(const std::vector<EpochMetrics>& rows);
// Reads metrics.csv: line 1 must be the header; every other non-empty line six
// numbers. A missing file reads as no rows. Errors name the file and the line,
// showing the line with non-printable bytes escaped, cut to 80 characters.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);
// For --resume after a checkpoint of epoch `through_epoch`: as above, but the
// rows of later epochs (written before a kill, after the checkpoint) and a cut
// last line (no newline: a write cut short) are dropped before validating.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path, int through_epoch);

// Two panels (loss, accuracy) with train and test lines per epoch; plain SVG.
std::string curves_svg(const std::vector<EpochMetrics>& rows, const std::string& title);

struct Prediction {
  const uint8_t* pixels = nullptr;  // 28*28 bytes, row-major
  int truth = 0, predicted = 0;
};
// A grid of images with "true / predicted" labels; mistakes framed in red.
std::string predictions_svg(const std::vector<Prediction>& preds, const std::vector<std::string>& class_names,
                            int columns = 10);

// Writes text to path atomically (temp file in the same folder, flushed to
// disk, then renamed over path): a failure or a kill at any point leaves path
// either as it was or with the new text, never partly written.
void write_file_atomic(const std::string& path, const std::string& text);

// s with bytes outside printable ASCII as \xNN, cut to max_chars characters
// ("..." and the total length after a cut): raw file bytes quoted in a message.
std::string printable(const std::string& s, size_t max_chars = 80);

namespace testing {
// Failure injection for tests: the next write_file_atomic to a path ending
// with `suffix` writes its temporary file in full, then throws tg::Error
// instead of renaming it over the path (as if killed just before the rename).
// An empty suffix disables it. Not thread-safe; tests only.
void fail_next_atomic_write(const std::string& suffix);
}  // namespace testing

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
