// IDX reader: every element type, raw and gzip, hand-built big-endian bytes,
// and each corrupt case with its specific message (path, expectation, finding,
// byte offset). Fixtures are written into a scratch directory by the tests.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "data/idx.h"
#include "fixtures.h"

#include <zlib.h>

using namespace tg::data;
using tg_test::TempDir;

namespace {
std::string error_of(const std::string& path) {
  try {
    read_idx(path);
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

template <class T>
void roundtrip(IdxType type, const std::vector<T>& values, const std::vector<int64_t>& dims) {
  TempDir dir;
  for (bool gz : {false, true}) {
    const std::string path = dir.file(std::string("a-") + idx_type_name(type) + (gz ? ".gz" : ""));
    write_idx(path, type, dims, values.data(), gz);
    IdxArray a = read_idx(path);
    CHECK(a.type == type);
    CHECK(a.dims == dims);
    CHECK(a.path == path);
    REQUIRE(a.numel() == int64_t(values.size()));
    const T* p = a.data<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      CHECK(p[i] == values[i]);
      CHECK(a.value(int64_t(i)) == double(values[i]));
    }
  }
}
}  // namespace

TEST_CASE("idx: every element type round-trips raw and gzip") {
  roundtrip<uint8_t>(IdxType::UInt8, {0, 1, 127, 128, 255, 7}, {2, 3});
  roundtrip<int8_t>(IdxType::Int8, {-128, -1, 0, 1, 127, 5}, {3, 2});
  roundtrip<int16_t>(IdxType::Int16, {-32768, -2, 0, 258, 32767, 1000}, {6});
  roundtrip<int32_t>(IdxType::Int32, {INT32_MIN, -70000, 0, 16909060, INT32_MAX, 3}, {1, 2, 3});
  roundtrip<float>(IdxType::Float32, {-1.5f, 0.f, 3.25f, 1e-20f, -7e30f, 0.1f}, {2, 1, 3, 1});
  roundtrip<double>(IdxType::Float64, {-1.5, 0.0, M_PI, 1e-300, -7e300, 0.1}, {6, 1});
}

TEST_CASE("idx: big-endian header and data are read as documented") {
  TempDir dir;
  // short, rank 2, dims [2, 1], data 0x0102 = 258 and 0xFFFE = -2
  tg_test::write_bytes(dir.file("s"), {0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0x02, 0xFF, 0xFE});
  IdxArray a = read_idx(dir.file("s"));
  CHECK(a.dims == std::vector<int64_t>{2, 1});
  CHECK(a.data<int16_t>()[0] == 258);
  CHECK(a.data<int16_t>()[1] == -2);
  // float 1.0f = 0x3F800000, rank 1
  tg_test::write_bytes(dir.file("f"), {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0x80, 0, 0});
  CHECK(read_idx(dir.file("f")).data<float>()[0] == 1.0f);
  // rank 0: one scalar int 0x01020304
  tg_test::write_bytes(dir.file("r0"), {0, 0, 0x0C, 0, 1, 2, 3, 4});
  IdxArray r0 = read_idx(dir.file("r0"));
  CHECK(r0.dims.empty());
  CHECK(r0.data<int32_t>()[0] == 16909060);
  // the writer produces exactly these bytes
  const int16_t v[2] = {258, -2};
  write_idx(dir.file("w"), IdxType::Int16, {2, 1}, v);
  CHECK(tg_test::read_bytes(dir.file("w")) == tg_test::read_bytes(dir.file("s")));
  // a wrong typed accessor is an error
  CHECK_THROWS_WITH_AS(a.data<float>(), doctest::Contains("holds short elements, requested float"), tg::Error);
}

TEST_CASE("idx: gzip is detected by magic, not by name") {
  TempDir dir;
  const uint8_t px[4] = {1, 2, 3, 255};
  write_idx(dir.file("gz-without-suffix"), IdxType::UInt8, {4}, px, /*gzip=*/true);
  write_idx(dir.file("raw-with-suffix.gz"), IdxType::UInt8, {4}, px, /*gzip=*/false);
  CHECK(tg_test::read_bytes(dir.file("gz-without-suffix"))[0] == 0x1f);
  for (const char* name : {"gz-without-suffix", "raw-with-suffix.gz"}) {
    IdxArray a = read_idx(dir.file(name));
    CHECK(a.bytes == std::vector<uint8_t>{1, 2, 3, 255});
  }
  // two concatenated gzip members form one stream
  std::vector<uint8_t> raw = tg_test::read_bytes(dir.file("raw-with-suffix.gz"));
  TempDir d2;
  // member 1: header + first 2 data bytes; member 2: the other 2 bytes
  std::vector<uint8_t> p1(raw.begin(), raw.end() - 2), p2(raw.end() - 2, raw.end());
  auto gz = [&](const std::vector<uint8_t>& b, const std::string& path) {
    gzFile g = gzopen(path.c_str(), "wb");
    gzwrite(g, b.data(), unsigned(b.size()));
    gzclose(g);
    return tg_test::read_bytes(path);
  };
  std::vector<uint8_t> cat = gz(p1, d2.file("m1"));
  std::vector<uint8_t> m2 = gz(p2, d2.file("m2"));
  cat.insert(cat.end(), m2.begin(), m2.end());
  tg_test::write_bytes(d2.file("two-members"), cat);
  CHECK(read_idx(d2.file("two-members")).bytes == std::vector<uint8_t>{1, 2, 3, 255});
}

TEST_CASE("idx: wrong magic names path, offset and the bytes found") {
  TempDir dir;
  tg_test::write_bytes(dir.file("bad"), {0, 1, 0x08, 1, 0, 0, 0, 1, 5});
  const std::string e = error_of(dir.file("bad"));
  CHECK(e.find(dir.file("bad")) != std::string::npos);
  CHECK(e.find("bad magic at offset 0: expected 0x00 0x00, found 0x00 0x01") != std::string::npos);
}

TEST_CASE("idx: unknown element type and truncated header") {
  TempDir dir;
  tg_test::write_bytes(dir.file("t"), {0, 0, 0x0A, 1, 0, 0, 0, 1, 5});
  CHECK(error_of(dir.file("t")).find("bad element type at offset 2") != std::string::npos);
  CHECK(error_of(dir.file("t")).find("found 0x0a") != std::string::npos);
  tg_test::write_bytes(dir.file("h"), {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0});
  CHECK(error_of(dir.file("h")).find("truncated header: rank 3 (byte at offset 3) needs 16 header bytes, file has 10") !=
        std::string::npos);
  tg_test::write_bytes(dir.file("empty"), {});
  CHECK(error_of(dir.file("empty")).find("truncated header: expected 4 bytes") != std::string::npos);
}

TEST_CASE("idx: truncated data reports expected bytes, offset and what the file has") {
  TempDir dir;
  // the MNIST training header (60000 x 28 x 28) followed by only 1000 bytes
  std::vector<uint8_t> b = {0, 0, 0x08, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
  b.resize(16 + 1000, 7);
  for (bool gz : {false, true}) {
    const std::string path = dir.file(gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte");
    if (gz) {
      gzFile g = gzopen(path.c_str(), "wb");
      gzwrite(g, b.data(), unsigned(b.size()));
      gzclose(g);
    } else {
      tg_test::write_bytes(path, b);
    }
    const std::string e = error_of(path);
    const std::string name = gz ? path + " (gzip; byte offsets are in the uncompressed data)" : path;
    CHECK(e.find(name + ": truncated: expected 47040000 bytes of data at offset 16 (47040016 bytes in all), file has 1000 (1016 in all)") !=
          std::string::npos);
  }
  // a short typed payload: 3 floats declared, 2 present
  tg_test::write_bytes(dir.file("f"), {0, 0, 0x0D, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(error_of(dir.file("f")).find("expected 12 bytes of data at offset 8 (20 bytes in all), file has 8") != std::string::npos);
}

TEST_CASE("idx: extra bytes are a dimension mismatch") {
  TempDir dir;
  tg_test::write_bytes(dir.file("x"), {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6});
  const std::string e = error_of(dir.file("x"));
  CHECK(e.find("dimension mismatch: rank 2 (byte at offset 3), dims [2,2] of ubyte need 4 bytes of data at offset "
               "12, file has 6") != std::string::npos);
  CHECK(e.find("2 extra bytes at offset 16") != std::string::npos);
}

TEST_CASE("idx: a rank byte too large for the file is named in the truncation message") {
  // rank 5 on a 2x28x28 file: the two extra dims are pixels (16843009 each)
  TempDir dir;
  std::vector<uint8_t> b = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
  b.resize(16 + 2 * 28 * 28, 1);
  b[3] = 5;
  tg_test::write_bytes(dir.file("r5"), b);
  const std::string e = error_of(dir.file("r5"));
  CHECK(e.find("truncated: expected 444821141008959008 bytes of data at offset 24") != std::string::npos);
  CHECK(e.find("for ubyte rank 5 (byte at offset 3), dims [2,28,28,16843009,16843009]") != std::string::npos);
  // a product clamped at 2^63 is said so, not printed as 2^63 - 1
  std::vector<uint8_t> c = {0, 0, 0x0E, 2, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3};
  tg_test::write_bytes(dir.file("big"), c);
  CHECK(error_of(dir.file("big")).find("expected more than 2^63 bytes of data at offset 12") != std::string::npos);
  // gzip: the offsets are in the uncompressed data, and the message says so
  write_idx(dir.file("t.gz"), IdxType::UInt8, {2, 2}, std::vector<uint8_t>{1, 2, 3, 4}.data(), true);
  std::vector<uint8_t> raw = tg::data::read_file_bytes(dir.file("t.gz"));
  raw.pop_back();
  gzFile g = gzopen(dir.file("u.gz").c_str(), "wb");
  gzwrite(g, raw.data(), unsigned(raw.size()));
  gzclose(g);
  CHECK(error_of(dir.file("u.gz")).find("u.gz (gzip; byte offsets are in the uncompressed data): truncated") !=
        std::string::npos);
}

TEST_CASE("idx: a corrupt rank byte is named and the dims it reads are cut to 8") {
  // A valid 2x28x28 header with the rank byte (offset 3) set to 200: the dims
  // then run into the pixels, and the message printed all 200 of them without
  // naming the rank.
  TempDir dir;
  std::vector<uint8_t> b = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
  b.resize(16 + 2 * 28 * 28, 1);
  b[3] = 200;
  tg_test::write_bytes(dir.file("r"), b);
  const std::string e = error_of(dir.file("r"));
  CHECK(e.find("rank 200 (byte at offset 3), dims [2,28,28,16843009,16843009,16843009,16843009,16843009, ... (200 "
               "dims)] (offset 4) are too large") != std::string::npos);
}

TEST_CASE("idx: a corrupt or truncated gzip stream is a tg::Error") {
  TempDir dir;
  std::vector<uint8_t> px(5000);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 31) ^ (i >> 3));
  write_idx(dir.file("ok.gz"), IdxType::UInt8, {5000}, px.data(), true);
  std::vector<uint8_t> good = tg_test::read_bytes(dir.file("ok.gz"));
  REQUIRE(good.size() > 100);

  std::vector<uint8_t> corrupt = good;
  for (size_t i = 12; i < 40; ++i) corrupt[i] ^= 0xA5;  // inside the deflate data
  tg_test::write_bytes(dir.file("corrupt.gz"), corrupt);
  std::string e = error_of(dir.file("corrupt.gz"));
  CHECK(e.find(dir.file("corrupt.gz") + ": corrupt gzip stream") != std::string::npos);

  std::vector<uint8_t> crc = good;
  crc[crc.size() - 6] ^= 1;  // the CRC-32 trailer
  tg_test::write_bytes(dir.file("crc.gz"), crc);
  CHECK(error_of(dir.file("crc.gz")).find("corrupt gzip stream at compressed byte offset") != std::string::npos);

  std::vector<uint8_t> cut(good.begin(), good.begin() + long(good.size() / 2));
  tg_test::write_bytes(dir.file("cut.gz"), cut);
  e = error_of(dir.file("cut.gz"));
  CHECK(e.find("corrupt gzip stream: truncated") != std::string::npos);
  CHECK(e.find("ends at byte " + std::to_string(cut.size())) != std::string::npos);

  tg_test::write_bytes(dir.file("magic-only.gz"), {0x1f, 0x8b});
  CHECK(error_of(dir.file("magic-only.gz")).find("corrupt gzip stream") != std::string::npos);
}

TEST_CASE("idx: a missing file names its path") {
  TempDir dir;
  const std::string e = error_of(dir.file("nope-idx1-ubyte"));
  CHECK(e.find(dir.file("nope-idx1-ubyte") + ": cannot open") != std::string::npos);
  // a directory is named as one (it used to throw std::bad_alloc: its size read as huge)
  std::filesystem::create_directories(dir.file("sub-idx1-ubyte"));
  CHECK(error_of(dir.file("sub-idx1-ubyte")) == dir.file("sub-idx1-ubyte") + ": is a directory, not an IDX file");
}
