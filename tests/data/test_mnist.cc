// MNIST / FashionMNIST loading: both naming styles, raw and gzip, real pixel
// values, batch collation, the error messages for missing files and count
// mismatches, idx_to_tensor, and (when installed) the real Fashion-MNIST and
// the MNIST digits made by scripts/get-data, which are skipped with a message
// when absent.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "data/idx.h"
#include "data/mnist.h"
#include "fixtures.h"

using namespace tg::data;
using tg_test::TempDir;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}
bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }
}  // namespace

TEST_CASE("mnist: both naming styles, raw and gzip, load the same known pixels") {
  for (const std::string sep : {"-", "."}) {
    for (bool gz : {false, true}) {
      TempDir dir;
      tg_test::write_mnist_fixture(dir.path.string(), "train", 12, sep, gz);
      tg_test::write_mnist_fixture(dir.path.string(), "t10k", 5, sep, gz);
      MNIST train(dir.path.string(), Split::Train);
      MNIST test(dir.path.string(), Split::Test);
      CHECK(train.size() == 12);
      CHECK(test.size() == 5);
      CHECK(contains(train.images_path(), "train-images" + sep + "idx3-ubyte" + (gz ? ".gz" : "")));
      CHECK(contains(test.labels_path(), "t10k-labels" + sep + "idx1-ubyte"));
      // raw bytes as written
      CHECK(train.images()[3 * 784 + 5 * 28 + 7] == tg_test::fixture_pixel(3, 5, 7));
      CHECK(train.labels()[11] == 1);
      CHECK(train.label(4) == 4);
      // get(i): [1,28,28] float32 in [0,1], int64 scalar label
      Example e = train.get(9);
      CHECK(e.data.shape() == tg::Shape{1, 28, 28});
      CHECK(e.data.dtype() == tg::kFloat32);
      CHECK(e.target.dtype() == tg::kInt64);
      CHECK(e.target.dim() == 0);
      CHECK(e.target.item<int64_t>() == 9);
      CHECK(e.data.at<float>({0, 2, 3}) == float(tg_test::fixture_pixel(9, 2, 3)) / 255.0f);
    }
  }
}

TEST_CASE("mnist: pixel 255 is exactly 1.0f, 0 is 0, and batches collate to [N,1,28,28] / [N]") {
  TempDir dir;
  std::vector<uint8_t> img(3 * 784, 0), lab = {7, 0, 9};
  img[0] = 255;            // image 0, pixel (0,0)
  img[784 + 27] = 128;     // image 1, pixel (0,27)
  img[2 * 784 + 783] = 1;  // image 2, pixel (27,27)
  write_idx(dir.file("train-images-idx3-ubyte"), IdxType::UInt8, {3, 28, 28}, img.data());
  write_idx(dir.file("train-labels-idx1-ubyte"), IdxType::UInt8, {3}, lab.data());
  MNIST m(dir.path.string());
  CHECK(m.get(0).data.at<float>({0, 0, 0}) == 1.0f);
  CHECK(m.get(0).data.at<float>({0, 0, 1}) == 0.0f);
  const std::vector<int64_t> idx = {2, 0, 1, 0};
  Example b = m.get_batch(idx);
  CHECK(b.data.shape() == tg::Shape{4, 1, 28, 28});
  CHECK(b.target.shape() == tg::Shape{4});
  CHECK(b.target.to_vector<int64_t>() == std::vector<int64_t>{9, 7, 0, 7});
  CHECK(b.data.at<float>({0, 0, 27, 27}) == 1.0f / 255.0f);
  CHECK(b.data.at<float>({1, 0, 0, 0}) == 1.0f);
  CHECK(b.data.at<float>({2, 0, 0, 27}) == 128.0f / 255.0f);
  CHECK(b.data.at<float>({3, 0, 0, 0}) == 1.0f);
  // the batch equals the per-example path
  Example g = m.Dataset::get_batch(idx);
  CHECK(g.data.to_vector<float>() == b.data.to_vector<float>());
  CHECK(g.target.to_vector<int64_t>() == b.target.to_vector<int64_t>());
  std::array<int64_t, 10> counts = m.label_counts();
  CHECK(counts[7] == 1);
  CHECK(counts[0] == 1);
  CHECK(counts[9] == 1);
  CHECK_THROWS_WITH_AS(m.get(3), doctest::Contains("index 3 out of range for size 3"), tg::Error);
}

TEST_CASE("mnist: missing files list every path tried and point to scripts/get-data") {
  TempDir dir;
  const std::string e = error_of([&] { MNIST m(dir.path.string(), Split::Test); });
  for (const char* name : {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte",
                           "t10k-images.idx3-ubyte.gz"})
    CHECK(contains(e, dir.file(name)));
  // both missing: both named, with all eight paths (the labels' were listed
  // only once the images were found)
  for (const char* name : {"t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte",
                           "t10k-labels.idx1-ubyte.gz"})
    CHECK(contains(e, dir.file(name)));
  CHECK(contains(e, "MNIST: no test images file and no test labels file in '" + dir.path.string() + "'"));
  CHECK(contains(e, "scripts/get-data"));
  // images present, labels missing
  tg_test::write_mnist_fixture(dir.path.string(), "t10k", 2);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte"));
  const std::string e2 = error_of([&] { FashionMNIST m(dir.path.string(), Split::Test); });
  CHECK(contains(e2, "FashionMNIST: no test labels file"));
  CHECK(contains(e2, dir.file("t10k-labels.idx1-ubyte.gz")));
}

TEST_CASE("mnist: images/labels count mismatch names both files and counts") {
  TempDir dir;
  tg_test::write_mnist_fixture(dir.path.string(), "train", 6, "-", false, /*n_labels=*/5);
  const std::string e = error_of([&] { MNIST m(dir.path.string()); });
  CHECK(contains(e, "count mismatch: " + dir.file("train-images-idx3-ubyte") + " holds 6 images but " +
                        dir.file("train-labels-idx1-ubyte") + " holds 5 labels (the counts at byte offset 4 of each file)"));
  // gzip files: the offset is in the uncompressed data (offset 4 of the .gz
  // file is gzip's MTIME field)
  TempDir gz;
  tg_test::write_mnist_fixture(gz.path.string(), "train", 6, "-", true, /*n_labels=*/5);
  CHECK(contains(error_of([&] { MNIST m(gz.path.string()); }),
                 "holds 5 labels (the counts at byte offset 4 of each file's IDX data, uncompressed)"));
}

TEST_CASE("mnist: an images file of rank 40 is named as such and a symlink loop is not found") {
  // Shape(dims) of a rank-40 file threw "Shape: rank 40 exceeds the maximum
  // of 8" with no file name; a symlink loop escaped as a filesystem_error.
  TempDir dir;
  std::vector<int64_t> dims(40, 1);
  std::vector<uint8_t> one = {0};
  write_idx(dir.file("train-images-idx3-ubyte"), IdxType::UInt8, dims, one.data());
  tg_test::write_mnist_fixture(dir.path.string(), "t10k", 1);
  std::filesystem::rename(dir.file("t10k-labels-idx1-ubyte"), dir.file("train-labels-idx1-ubyte"));
  CHECK(contains(error_of([&] { MNIST m(dir.path.string()); }),
                 dir.file("train-images-idx3-ubyte") + ": expected ubyte images of shape [N,28,28], found ubyte "
                 "[1,1,1,1,1,1,1,1, ... (40 dims)] (type byte at offset 2"));
  TempDir loop;
  std::filesystem::create_symlink(loop.file("train-images-idx3-ubyte"), loop.file("train-images-idx3-ubyte"));
  CHECK(contains(error_of([&] { MNIST m(loop.path.string()); }), "MNIST: no training images file and no training labels file"));
}

TEST_CASE("mnist: wrong shapes, bad labels and corrupt files are errors") {
  TempDir dir;
  std::vector<uint8_t> img(2 * 20 * 20, 0), lab = {1, 12};
  write_idx(dir.file("train-images-idx3-ubyte"), IdxType::UInt8, {2, 20, 20}, img.data());
  write_idx(dir.file("train-labels-idx1-ubyte"), IdxType::UInt8, {2}, lab.data());
  CHECK(contains(error_of([&] { MNIST m(dir.path.string()); }), "expected ubyte images of shape [N,28,28], found ubyte [2,20,20] (type byte at offset 2, rank at offset 3, dims from offset 4)"));
  tg_test::write_mnist_fixture(dir.path.string(), "train", 2);
  write_idx(dir.file("train-labels-idx1-ubyte"), IdxType::UInt8, {2}, lab.data());
  CHECK(contains(error_of([&] { MNIST m(dir.path.string()); }), "label 12 of example 1 (byte offset 9) is not in 0..9"));
  // a truncated images file reports the IDX reader's message
  tg_test::write_bytes(dir.file("train-images-idx3-ubyte"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2});
  CHECK(contains(error_of([&] { MNIST m(dir.path.string()); }),
                 "truncated: expected 1568 bytes of data at offset 16 (1584 bytes in all), file has 2"));
}

TEST_CASE("idx: idx_to_tensor converts every type to float32/float64/int64") {
  TempDir dir;
  const int16_t s[4] = {-3, 0, 258, 32767};
  write_idx(dir.file("s"), IdxType::Int16, {2, 2}, s);
  IdxArray a = read_idx(dir.file("s"));
  tg::Tensor f = idx_to_tensor(a);
  CHECK(f.shape() == tg::Shape{2, 2});
  CHECK(f.to_vector<float>() == std::vector<float>{-3.f, 0.f, 258.f, 32767.f});
  CHECK(idx_to_tensor(a, tg::kInt64).to_vector<int64_t>() == std::vector<int64_t>{-3, 0, 258, 32767});
  CHECK(idx_to_tensor(a, tg::kFloat64, 0.5).to_vector<double>() == std::vector<double>{-1.5, 0, 129, 16383.5});
  const uint8_t px[2] = {255, 51};
  write_idx(dir.file("u"), IdxType::UInt8, {2}, px);
  tg::Tensor u = idx_to_tensor(read_idx(dir.file("u")), tg::kFloat32, 1.0 / 255.0);
  CHECK(u.to_vector<float>() == std::vector<float>{1.0f, 0.2f});
  const double d[1] = {2.5};
  write_idx(dir.file("d"), IdxType::Float64, {1}, d);
  CHECK_THROWS_WITH_AS(idx_to_tensor(read_idx(dir.file("d")), tg::kInt64), doctest::Contains("cannot become int64"),
                       tg::Error);
}

TEST_CASE("mnist: the real Fashion-MNIST (skipped when not installed)") {
  if (!std::filesystem::exists(std::string(FashionMNIST::kSystemRoot) + "/train-images-idx3-ubyte.gz")) {
    const std::string skip = "Fashion-MNIST is not installed in " + std::string(FashionMNIST::kSystemRoot) +
                             "; run scripts/get-data. Skipped.";
    MESSAGE(skip);
    return;
  }
  FashionMNIST train(FashionMNIST::kSystemRoot, Split::Train);
  FashionMNIST test(FashionMNIST::kSystemRoot, Split::Test);
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  for (int64_t c : train.label_counts()) CHECK(c == 6000);
  for (int64_t c : test.label_counts()) CHECK(c == 1000);
  CHECK(FashionMNIST::class_names()[9] == "Ankle boot");
  // first training example: label 9 (ankle boot), per the dataset's README figure
  CHECK(train.label(0) == 9);
  CHECK(test.label(0) == 9);
  Example e = train.get(0);
  float mx = 0;
  for (float v : e.data.to_vector<float>()) mx = std::max(mx, v);
  CHECK(mx == 1.0f);  // some pixel is 255
  // known bytes (computed independently with Python's gzip module)
  const std::vector<uint8_t> row14 = {0,   0,   1,   4,   6,   7,   2,   0,   0,   0,   0,   0,   237, 226,
                                      217, 223, 222, 219, 222, 221, 216, 223, 229, 215, 218, 255, 77,  0};
  CHECK(std::vector<uint8_t>(train.images() + 14 * 28, train.images() + 15 * 28) == row14);
  int64_t sum0 = 0, sum_last = 0;
  for (int k = 0; k < 784; ++k) sum0 += train.images()[k], sum_last += test.images()[9999 * 784 + k];
  CHECK(sum0 == 76247);
  CHECK(sum_last == 24390);
  CHECK(e.data.at<float>({0, 14, 25}) == 1.0f);
  CHECK(e.data.at<float>({0, 14, 12}) == 237.0f / 255.0f);
}

TEST_CASE("mnist: the MNIST digits from scripts/get-data (skipped when absent)") {
  const std::string root = std::string(TG_SOURCE_DIR) + "/data/mnist-digits";
  if (!std::filesystem::exists(root + "/train-images-idx3-ubyte")) {
    MESSAGE("data/mnist-digits is absent; run scripts/get-data. Skipped.");
    return;
  }
  MNIST train(root, Split::Train), test(root, Split::Test);
  CHECK(train.size() == 8000);
  CHECK(test.size() == 2000);
  // the stratified split of scripts/mnist_json_to_idx.py (class sizes 1001, 1127, ...)
  const std::array<int64_t, 10> want_test = {200, 225, 198, 206, 196, 173, 203, 214, 189, 196};
  const std::array<int64_t, 10> want_train = {801, 902, 793, 826, 784, 690, 811, 856, 755, 782};
  CHECK(test.label_counts() == want_test);
  CHECK(train.label_counts() == want_train);
  int64_t sum0 = 0;
  for (int k = 0; k < 784; ++k) sum0 += train.images()[k];
  CHECK(sum0 == 22766);
  CHECK(std::vector<uint8_t>(train.labels(), train.labels() + 10) == std::vector<uint8_t>{1, 9, 3, 9, 5, 2, 7, 0, 8, 5});
}
