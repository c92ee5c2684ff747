// tensor/safetensors: round trips of every dtype (incl. 0-d and empty
// tensors), reading PyTorch-written files, one test per corruption the reader
// must reject (each error names the file, the tensor when one entry is
// wrong, and the byte offset for problems of the layout), and
// failure injection: a write that dies midway leaves the previous file intact
// and no temporary file behind. Headers the reference reader refuses
// (duplicate keys, a NUL byte, a byte order mark), and a stale temporary file
// of an earlier process with the same pid.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "../common/test_util.h"

using tg::Shape;
using tg::Tensor;
namespace fs = std::filesystem;

namespace {

// A fresh scratch directory per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("tg_st_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};

// Writes an 8-byte length, the header text and `data` bytes (hlen overrides the length).
void write_raw(const std::string& path, const std::string& header, size_t data_bytes, int64_t hlen = -1) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = hlen >= 0 ? uint64_t(hlen) : header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), std::streamsize(header.size()));
  const std::vector<char> zeros(data_bytes, 0);
  f.write(zeros.data(), std::streamsize(zeros.size()));
}

std::string load_error(const std::string& path) {
  try {
    tg::load_safetensors(path);
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("safetensors: round trip of float32, float64, int64, 0-d, empty and non-contiguous tensors") {
  TempDir dir;
  std::map<std::string, Tensor> ts;
  ts["a.f32"] = tg::tensor({1.5f, -2.f, 3.25f, 1e-30f}, {2, 2});
  ts["b.f64"] = tg::tensor({3.141592653589793, -1e300, 0.0}, {3});
  ts["c.i64"] = tg::tensor(std::vector<int64_t>{-5, 0, int64_t(1) << 62}, {3, 1});
  ts["d.scalar"] = tg::scalar_tensor(2.5, tg::kFloat64);
  ts["e.scalar_i64"] = tg::tensor(std::vector<int64_t>{7}).reshape(Shape{});
  ts["f.empty"] = tg::zeros({0, 3});
  ts["g.transposed"] = tg::arange(0, 6, 1, {.dtype = tg::kFloat32}).reshape({2, 3}).t();
  const std::map<std::string, std::string> md{{"format", "pt"}, {"epoch", "3"}, {"note", "ünïcode \"quoted\""}};
  const std::string path = dir.file("rt.safetensors");
  tg::save_safetensors(path, ts, md);
  const auto f = tg::load_safetensors(path);
  CHECK(f.metadata == md);
  REQUIRE(f.tensors.size() == ts.size());
  for (const auto& [k, t] : ts) {
    CAPTURE(k);
    const Tensor& r = f.tensors.at(k);
    CHECK(r.dtype() == t.dtype());
    CHECK(r.shape() == t.shape());
    CHECK(tgtest::bit_equal(r, t.contiguous()));
  }
  CHECK(f.tensors.at("d.scalar").dim() == 0);
  // Header padded to a multiple of 8; data section starts right after it.
  std::ifstream in(path, std::ios::binary);
  uint64_t hlen = 0;
  in.read(reinterpret_cast<char*>(&hlen), 8);
  CHECK(hlen % 8 == 0);
  // Overwriting is fine and leaves no temporary file.
  tg::save_safetensors(path, {{"x", tg::ones({2})}});
  CHECK(tg::load_safetensors(path).tensors.size() == 1);
  CHECK(dir.entries() == std::vector<std::string>{"rt.safetensors"});
  // Invalid names.
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("bad"), {{"__metadata__", tg::ones({1})}}),
                       doctest::Contains("'__metadata__' is not a valid tensor name"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"x", tg::ones({1})}}),
                       doctest::Contains("cannot create temporary file"), tg::Error);
}

TEST_CASE("safetensors: reads the PyTorch-written reference files") {
  const std::string ref = TG_TEST_REFERENCE_DIR;
  const auto f = tg::load_safetensors(ref + "/layers.safetensors");
  CHECK(f.metadata.at("format") == "pt");
  const auto layers = tgtest::load_json("layers.json");
  for (const auto& e : layers["layers"])
    if (e["name"] == "linear_5_3") {
      CHECK(tgtest::max_abs_diff(f.tensors.at("layers/linear_5_3/params/weight"), tgtest::from_json(e["params"]["weight"])) == 0);
    }
  CHECK(f.tensors.at("losses/cross_entropy/mean/output").dim() == 0);
  CHECK(f.tensors.at("layers/batchnorm2d_train/buffers_after/num_batches_tracked").dtype() == tg::kInt64);
  const auto m = tg::load_safetensors(ref + "/mlp.safetensors");
  CHECK(m.tensors.at("0.weight").shape() == Shape{256, 784});
  CHECK(m.tensors.at("0.weight").dtype() == tg::kFloat32);
}

TEST_CASE("safetensors: every corrupt file is a clear tg::Error naming file, tensor and offset") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto hdr = [](const std::string& body) {  // pads like the real writer
    std::string h = body;
    while (h.size() % 8) h.push_back(' ');
    return h;
  };
  struct Case {
    const char* what;
    std::string header;
    size_t data;
    int64_t hlen;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::vector<Case> cases = {
      {"header length past the end", hdr("{}"), 0, 1000, {"header length 1000 (byte 0) exceeds the 8 bytes"}},
      {"invalid JSON", hdr("{\"w\": [1,"), 0, -1, {"header is not valid JSON", "at byte"}},
      {"header not an object", hdr("[1, 2]"), 0, -1, {"header (byte 8) is not a JSON object"}},
      {"entry not an object", hdr(R"({"w": 5})"), 0, -1, {"tensor 'w': entry is not a JSON object"}},
      {"missing shape", hdr(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})"), 8, -1,
       {"tensor 'w': missing field 'shape'"}},
      {"missing dtype", hdr(R"({"w":{"shape":[2],"data_offsets":[0,8]}})"), 8, -1, {"missing field 'dtype'"}},
      {"dtype not a string", hdr(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})"), 8, -1,
       {"'dtype' is not a string"}},
      {"unsupported dtype", hdr(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})"), 4, -1,
       {"tensor 'w': unsupported dtype F16"}},
      {"unknown dtype", hdr(R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})"), 8, -1,
       {"unknown dtype 'Q7'"}},
      {"negative dim", hdr(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"), 8, -1,
       {"shape entry -2 is not a non-negative integer"}},
      {"fractional dim", hdr(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})"), 8, -1,
       {"shape entry 1.5 is not a non-negative integer"}},
      {"shape not an array", hdr(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})"), 8, -1,
       {"'shape' is not an array"}},
      {"huge shape", hdr(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})"), 8, -1,
       {"is too large"}},
      {"offsets not two ints", hdr(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})"), 8, -1,
       {"'data_offsets' is not an array of two non-negative integers"}},
      {"offsets a string", hdr(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":"0-8"}})"), 8, -1,
       {"'data_offsets' is not an array"}},
      {"span != shape x dtype", hdr(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"), 8, -1,
       {"shape [3] x F32 needs 12 bytes but data_offsets [0, 8) span 8 (file bytes 64 to 72)"}},
      {"offsets past the end", hdr(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})"), 8, -1,
       {"data_offsets [8, 16) run past the end of the file", "data section is 8 bytes"}},
      {"end before begin", hdr(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})"), 8, -1,
       {"end before they begin (the data section starts at byte 64)"}},
      {"overlap", hdr(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
       12, -1, {"tensor 'b' data_offsets [4, 12) overlap tensor 'a'"}},
      {"gap", hdr(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})"),
       12, -1, {"tensor 'b' data_offsets begin at 8 but the previous tensor ends at 4"}},
      {"first tensor not at 0", hdr(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"), 8, -1,
       {"begin at 4 but the previous tensor ends at 0"}},
      {"trailing garbage", hdr("{" + ok_entry + "}"), 12, -1, {"4 trailing bytes after the last tensor"}},
      {"metadata not an object", hdr(R"({"__metadata__": [1]})"), 0, -1, {"__metadata__ is not a JSON object"}},
      {"metadata value not a string", hdr(R"({"__metadata__": {"epoch": 3}})"), 0, -1,
       {"__metadata__ entry 'epoch' is not a string"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    write_raw(p, c.header, c.data, c.hlen);
    const std::string msg = load_error(p);
    CAPTURE(msg);
    CHECK(msg.find("load_safetensors: '" + p + "'") != std::string::npos);
    for (const auto& s : c.expect) CHECK(msg.find(s) != std::string::npos);
  }
  // Unordered entries are fine as long as their offsets tile the data section.
  write_raw(p, hdr(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})"),
            16);
  CHECK(tg::load_safetensors(p).tensors.size() == 3);
  // Too short for the length field; missing file.
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write("abc", 3);
  }
  CHECK(load_error(p).find("is 3 bytes, too short for the 8-byte header length") != std::string::npos);
  CHECK(load_error(dir.file("missing.safetensors")).find("cannot open") != std::string::npos);
  // Truncating a valid file anywhere is always an error, never a crash.
  tg::save_safetensors(p, {{"a", tg::ones({5, 3})}, {"b", tg::zeros({4}, {.dtype = tg::kInt64})}});
  const auto size = fs::file_size(p);
  std::vector<char> bytes(size);
  std::ifstream(p, std::ios::binary).read(bytes.data(), std::streamsize(size));
  const std::string q = dir.file("trunc.safetensors");
  for (size_t n = 0; n < size; ++n) {
    std::ofstream(q, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(n));
    CHECK_THROWS_AS(tg::load_safetensors(q), tg::Error);
  }
  // Flipping any single header byte never crashes (it may still parse).
  const uint64_t hlen = *reinterpret_cast<const uint64_t*>(bytes.data());
  for (size_t i = 8; i < 8 + hlen; ++i) {
    std::vector<char> b = bytes;
    b[i] = char(b[i] ^ 0x5a);
    std::ofstream(q, std::ios::binary | std::ios::trunc).write(b.data(), std::streamsize(size));
    try {
      tg::load_safetensors(q);
    } catch (const tg::Error&) {
    }
  }
}

TEST_CASE("safetensors: a write that fails midway leaves the previous file intact and no temp file") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::map<std::string, Tensor> v1{{"w", tg::tensor({1.f, 2.f, 3.f})}, {"step", tg::scalar_tensor(1, tg::kInt64)}};
  tg::save_safetensors(path, v1, {{"version", "1"}});
  const std::map<std::string, Tensor> v2{{"w", tg::randn({100, 100})}, {"step", tg::scalar_tensor(2, tg::kInt64)}};
  for (int64_t fail_at : {0, 5, 8, 64, 1000, 40000}) {
    CAPTURE(fail_at);
    tg::testing::set_safetensors_fail_after(fail_at);
    CHECK_THROWS_WITH_AS(tg::save_safetensors(path, v2, {{"version", "2"}}), doctest::Contains("injected failure"),
                         tg::Error);
    tg::testing::set_safetensors_fail_after(-1);
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
    const auto f = tg::load_safetensors(path);
    CHECK(f.metadata.at("version") == "1");
    CHECK(tgtest::bit_equal(f.tensors.at("w"), v1.at("w")));
  }
  // And without the injected failure the new file replaces the old one.
  tg::save_safetensors(path, v2, {{"version", "2"}});
  CHECK(tg::load_safetensors(path).metadata.at("version") == "2");
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: duplicate keys, a NUL byte and a byte order mark in the header are errors") {
  // nlohmann kept the last of two equal keys, stopped at a NUL (a tensor after
  // it was dropped) and skipped a BOM; the reference reader refuses all three
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  const std::string a4 = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  const std::string a8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string nul(1, '\0');
  struct Case {
    const char* what;
    std::string header;
    size_t data;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"tensor twice", "{" + a4 + "," + a8 + "}", 8, "duplicate key 'a' in the header"},
      {"field twice", R"({"a":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4,
       "duplicate key 'dtype' in the entry of tensor 'a'"},
      {"__metadata__ twice", R"({"__metadata__":{"k":"1"},"__metadata__":{"k":"2"}})", 0,
       "duplicate key '__metadata__' in the header"},
      {"metadata key twice", R"({"__metadata__":{"k":"1","k":"2"}})", 0, "duplicate key 'k' in __metadata__"},
      {"nested key twice", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":{"y":1,"y":2}}})", 4,
       "duplicate key 'y' in a nested object"},
      {"NUL then garbage", "{" + a4 + "}" + nul + " this is not JSON {{{", 4,
       "header contains a NUL byte at byte " + std::to_string(8 + a4.size() + 2)},
      {"NUL hides a tensor", "{" + a4 + nul + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       "header contains a NUL byte at byte " + std::to_string(8 + a4.size() + 1)},
      {"NUL padding", "{" + a4 + "}" + std::string(7, '\0'), 4, "header contains a NUL byte at byte "},
      {"BOM", "\xEF\xBB\xBF{}", 0, "header starts with a UTF-8 byte order mark (byte 8)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    write_raw(p, c.header, c.data);
    const std::string msg = load_error(p);
    CAPTURE(msg);
    CHECK(msg.find("load_safetensors: '" + p + "'") != std::string::npos);
    CHECK(msg.find(c.expect) != std::string::npos);
  }
  // one key in different objects is fine, and so is an escaped NUL in a string
  write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"a":"x\u0000y","dtype":"F32"}})",
            4);
  const auto f = tg::load_safetensors(p);
  CHECK(f.tensors.at("a").to_vector<float>() == std::vector<float>{0.f});
  CHECK(f.metadata.at("a") == std::string("x\0y", 3));
  CHECK(f.metadata.at("dtype") == "F32");
}

TEST_CASE("safetensors: a temporary file left by an earlier process with the same pid does not fail a save") {
  // a run killed during a save leaves <path>.tmp.<pid>.<n>; a later process
  // with the same pid (pid 1 in a container) failed with "File exists"
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string stem = path + ".tmp." + std::to_string(::getpid()) + ".";
  // The counter value the last save used, from the name an injected failure reports.
  auto last_counter = [&] {
    tg::testing::set_safetensors_fail_after(0);
    std::string msg;
    try {
      tg::save_safetensors(path, {{"x", tg::ones({1})}});
    } catch (const tg::Error& e) {
      msg = e.what();
    }
    tg::testing::set_safetensors_fail_after(-1);
    const size_t at = msg.find(stem);
    REQUIRE(at != std::string::npos);
    return std::stoll(msg.substr(at + stem.size()));
  };
  auto stale = [&](int64_t n) {
    std::ofstream(stem + std::to_string(n)) << "partial";
  };
  const int64_t n = last_counter();
  for (int64_t k = 1; k <= 3; ++k) stale(n + k);
  tg::save_safetensors(path, {{"x", tg::tensor({1.f, 2.f, 3.f})}}, {{"run", "2"}});
  const auto f = tg::load_safetensors(path);
  CHECK(f.tensors.at("x").to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f});
  CHECK(f.metadata.at("run") == "2");
  // the stale files are not this process's to remove; no new temporary is left
  CHECK(dir.entries().size() == 4);
  std::string text;
  std::ifstream(stem + std::to_string(n + 2)) >> text;
  CHECK(text == "partial");
  // Past 64 taken names in a row: an error naming the file, and the old file stays.
  const int64_t m = last_counter();
  for (int64_t k = 1; k <= 64; ++k) stale(m + k);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(path, {{"x", tg::zeros({3})}}),
                       doctest::Contains(("save_safetensors: cannot create temporary file '" + stem +
                                          std::to_string(m + 64) + "' to write '" + path +
                                          "': File exists (the last of 64 names tried)")
                                             .c_str()),
                       tg::Error);
  CHECK(tg::load_safetensors(path).tensors.at("x").to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f});
  // the next save takes the next free name
  tg::save_safetensors(path, {{"x", tg::zeros({2})}});
  CHECK(tg::load_safetensors(path).tensors.at("x").to_vector<float>() == std::vector<float>{0.f, 0.f});
}
