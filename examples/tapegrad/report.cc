// metrics.csv, curves.svg, predictions.svg and the progress bar.
#include "report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "tensor/error.h"

namespace tgapp {

const char* const kMetricsHeader = "epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds";

namespace {
void format_row(std::ostream& f, const EpochMetrics& m) {
  f << m.epoch << std::setprecision(9) << "," << m.train_loss << "," << m.train_acc << "," << m.test_loss << ","
    << m.test_acc << "," << m.epoch_seconds << "\n";
}

// Parses the metrics.csv text. With through_epoch >= 0 (resume), the rows of
// later epochs are dropped unvalidated, and so is a last line without its
// newline unless it is a whole row (a write cut short; the app writes the file
// atomically, but an editor may drop the final newline).
std::vector<EpochMetrics> parse_metrics(const std::string& text, const std::string& path, int through_epoch) {
  std::vector<EpochMetrics> rows;
  size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const bool cut = nl == std::string::npos;
    if (cut) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();  // CRLF
    if (lineno == 1) {
      if (cut && through_epoch >= 0 && line != kMetricsHeader) break;  // cut short: dropped
      TG_CHECK(line == kMetricsHeader, "metrics: ", path, " line 1 is not the header '", kMetricsHeader, "': '",
               printable(line), "'");
      continue;
    }
    if (line.empty()) continue;
    if (through_epoch >= 0) {
      char* end = nullptr;
      const long e = std::strtol(line.c_str(), &end, 10);
      if (end != line.c_str() && *end == ',' && e > through_epoch) continue;  // after the checkpoint: dropped
    }
    // Six comma-separated numbers; strtod also reads the nan/inf that
    // append_metrics_csv writes for a non-finite value (operator>> does not).
    double v[6];
    const char* p = line.c_str();
    bool ok = true;
    for (int k = 0; k < 6 && ok; ++k) {
      char* end = nullptr;
      v[k] = std::strtod(p, &end);
      ok = end != p && *end == (k < 5 ? ',' : '\0');
      p = end + 1;
    }
    ok = ok && v[0] >= 1 && v[0] <= 1e9 && v[0] == std::floor(v[0]);
    if (!ok && cut && through_epoch >= 0) break;  // a write cut short: dropped
    TG_CHECK(ok, "metrics: ", path, " line ", lineno, " is malformed: '", printable(line), "'");
    rows.push_back({int(v[0]), v[1], v[2], v[3], v[4], v[5]});
  }
  return rows;
}

std::vector<EpochMetrics> read_metrics(const std::string& path, int through_epoch) {
  std::ifstream f(path, std::ios::binary);
  if (!f.is_open()) {
    TG_CHECK(!std::filesystem::exists(path), "metrics: cannot read ", path);
    return {};
  }
  std::ostringstream text;
  text << f.rdbuf();
  TG_CHECK(!f.bad(), "metrics: reading ", path, " failed");
  return parse_metrics(text.str(), path, through_epoch);
}

std::string fail_suffix;  // testing::fail_next_atomic_write
}  // namespace

void append_metrics_csv(const std::string& path, const EpochMetrics& m) {
  const bool fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path) == 0;
  std::ofstream f(path, std::ios::app);
  TG_CHECK(f.good(), "metrics: cannot open ", path, " for appending");
  if (fresh) f << kMetricsHeader << "\n";
  format_row(f, m);
  TG_CHECK(f.good(), "metrics: writing ", path, " failed");
}

std::string metrics_csv_text(const std::vector<EpochMetrics>& rows) {
  std::ostringstream f;
  f << kMetricsHeader << "\n";
  for (const auto& m : rows) format_row(f, m);
  return f.str();
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) { return read_metrics(path, -1); }

std::vector<EpochMetrics> read_metrics_csv(const std::string& path, int through_epoch) {
  return read_metrics(path, std::max(through_epoch, 0));
}

std::string printable(const std::string& s, size_t max_chars) {
  std::string o;
  size_t shown = 0;
  for (unsigned char ch : s) {
    if (shown == max_chars) {
      o += "... (" + std::to_string(s.size()) + " bytes)";
      break;
    }
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      o += char(ch);
    } else {
      static const char* hex = "0123456789abcdef";
      o += ch == '\\' ? std::string("\\\\") : std::string("\\x") + hex[ch >> 4] + hex[ch & 15];
    }
    ++shown;
  }
  return o;
}

namespace testing {
void fail_next_atomic_write(const std::string& suffix) { fail_suffix = suffix; }
}  // namespace testing

namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '<') o += "&lt;";
    else if (ch == '>') o += "&gt;";
    else if (ch == '&') o += "&amp;";
    else o += ch;
  }
  return o;
}

// One line chart panel at (x0, y0) of size w x h.
void panel(std::ostringstream& os, double x0, double y0, double w, double h, const std::string& title,
           const std::vector<EpochMetrics>& rows, double EpochMetrics::*train, double EpochMetrics::*test, bool percent) {
  double lo = 1e300, hi = -1e300;
  for (const auto& r : rows) {
    lo = std::min({lo, r.*train, r.*test});
    hi = std::max({hi, r.*train, r.*test});
  }
  if (rows.empty()) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const double pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const int n = std::max<int>(int(rows.size()), 1);
  auto X = [&](int i) { return x0 + 50 + (n == 1 ? (w - 70) / 2 : (w - 70) * i / double(n - 1)); };
  auto Y = [&](double v) { return y0 + 30 + (h - 60) * (1 - (v - lo) / (hi - lo)); };
  os << "<rect x='" << x0 << "' y='" << y0 << "' width='" << w << "' height='" << h << "' fill='white' stroke='#ccc'/>\n";
  os << "<text x='" << x0 + w / 2 << "' y='" << y0 + 20 << "' text-anchor='middle' font-size='14'>" << esc(title) << "</text>\n";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    os << "<line x1='" << x0 + 50 << "' x2='" << x0 + w - 20 << "' y1='" << Y(v) << "' y2='" << Y(v) << "' stroke='#eee'/>\n";
    os << "<text x='" << x0 + 45 << "' y='" << Y(v) + 4 << "' text-anchor='end' font-size='10'>" << std::fixed
       << std::setprecision(percent ? 1 : 3) << (percent ? v * 100 : v) << (percent ? "%" : "") << "</text>\n";
  }
  for (int i = 0; i < int(rows.size()); ++i)
    os << "<text x='" << X(i) << "' y='" << y0 + h - 12 << "' text-anchor='middle' font-size='10'>" << rows[size_t(i)].epoch << "</text>\n";
  auto line = [&](double EpochMetrics::*f, const char* color, const char* name, int k) {
    os << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (int i = 0; i < int(rows.size()); ++i) os << X(i) << "," << Y(rows[size_t(i)].*f) << " ";
    os << "'/>\n";
    for (int i = 0; i < int(rows.size()); ++i)
      os << "<circle cx='" << X(i) << "' cy='" << Y(rows[size_t(i)].*f) << "' r='3' fill='" << color << "'/>\n";
    os << "<text x='" << x0 + w - 90 << "' y='" << y0 + 40 + 14 * k << "' font-size='11' fill='" << color << "'>" << name << "</text>\n";
  };
  line(train, "#1f77b4", "train", 0);
  line(test, "#d62728", "test", 1);
}
}  // namespace

std::string curves_svg(const std::vector<EpochMetrics>& rows, const std::string& title) {
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='860' height='360' font-family='sans-serif'>\n";
  os << "<text x='430' y='18' text-anchor='middle' font-size='15'>" << esc(title) << " (x: epoch)</text>\n";
  panel(os, 10, 30, 410, 320, "loss", rows, &EpochMetrics::train_loss, &EpochMetrics::test_loss, false);
  panel(os, 440, 30, 410, 320, "accuracy", rows, &EpochMetrics::train_acc, &EpochMetrics::test_acc, true);
  os << "</svg>\n";
  return os.str();
}

std::string predictions_svg(const std::vector<Prediction>& preds, const std::vector<std::string>& names, int columns) {
  const int cell = 84, px = 2;  // 28 px * 2 = 56 px image, labels below
  const int rows = (int(preds.size()) + columns - 1) / columns;
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << columns * cell << "' height='" << rows * (cell + 12) + 24
     << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  int wrong = 0;
  for (const auto& p : preds) wrong += p.truth != p.predicted;
  os << "<text x='6' y='16' font-size='13'>true / predicted; mistakes in red (" << wrong << " of " << preds.size()
     << ")</text>\n";
  auto name = [&](int c) { return c >= 0 && c < int(names.size()) ? names[size_t(c)] : std::to_string(c); };
  for (size_t i = 0; i < preds.size(); ++i) {
    const int cx = int(i % size_t(columns)) * cell + 14, cy = int(i / size_t(columns)) * (cell + 12) + 26;
    const bool ok = preds[i].truth == preds[i].predicted;
    os << "<g transform='translate(" << cx << "," << cy << ")'>\n";
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const int v = preds[i].pixels[y * 28 + x];
        if (v < 16) continue;  // background stays white
        os << "<rect x='" << x * px << "' y='" << y * px << "' width='" << px << "' height='" << px << "' fill='rgb("
           << 255 - v << "," << 255 - v << "," << 255 - v << ")'/>";
      }
    os << "\n<rect x='-1' y='-1' width='58' height='58' fill='none' stroke='" << (ok ? "#bbb" : "#d62728")
       << "' stroke-width='" << (ok ? 1 : 3) << "'/>\n";
    os << "<text x='28' y='72' text-anchor='middle' font-size='10' fill='" << (ok ? "#333" : "#d62728") << "'>"
       << esc(name(preds[i].truth)) << " / " << esc(name(preds[i].predicted)) << "</text>\n</g>\n";
  }
  os << "</svg>\n";
  return os.str();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TG_CHECK(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno), " (is the folder writable?)");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(tmp.c_str());
      TG_CHECK(false, "writing ", tmp, " failed: ", std::strerror(err), " (", path, " is left as it was)");
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    TG_CHECK(false, "writing ", tmp, " failed: ", std::strerror(err), " (", path, " is left as it was)");
  }
  if (!fail_suffix.empty() && path.size() >= fail_suffix.size() &&
      path.compare(path.size() - fail_suffix.size(), fail_suffix.size(), fail_suffix) == 0) {
    fail_suffix.clear();
    TG_CHECK(false, "injected failure before renaming ", tmp, " over ", path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    TG_CHECK(false, "cannot rename ", tmp, " over ", path, ": ", std::strerror(err));
  }
}

Progress::Progress(int epoch, int epochs, int64_t batches)
    : epoch_(epoch), epochs_(epochs), batches_(batches), tty_(isatty(STDOUT_FILENO) != 0) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t batch, double loss, double acc, int64_t samples) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (batch + 1 < batches_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double frac = double(batch + 1) / double(std::max<int64_t>(batches_, 1));
  const int width = 24, filled = int(frac * width);
  const double left = frac > 0 ? secs / frac - secs : 0;
  std::printf("\repoch %d/%d [%s%s] %lld/%lld loss %.4f acc %.2f%% %.0f samples/s %.0fs left   ", epoch_, epochs_,
              std::string(size_t(filled), '=').c_str(), std::string(size_t(width - filled), ' ').c_str(),
              (long long)(batch + 1), (long long)batches_, loss, acc * 100, secs > 0 ? samples / secs : 0.0, left);
  std::fflush(stdout);
}

void Progress::finish() {
  if (tty_) std::printf("\r%*s\r", 110, "");
}

}  // namespace tgapp
