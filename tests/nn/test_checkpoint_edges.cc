// Checkpoint and state edge cases found by review (session 10): hostile
// safetensors headers (deep nesting that overflowed the stack while the error
// message was built, an empty shape whose strides overflow), paths that are
// directories, FIFOs, symlinks or long names, names that are not UTF-8, the
// permission bits of a file a save replaces,
// optimizer and scheduler state with bad values, and names a module uses
// twice across parameters and buffers.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "../common/test_util.h"
#include "../data/fixtures.h"

using tg::Tensor;
namespace fs = std::filesystem;

namespace {

// A safetensors file with the given JSON header and no data.
void write_header_only(const std::string& path, const std::string& header) {
  std::string h = header;
  while (h.size() % 8) h.push_back(' ');
  const uint64_t n = h.size();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(h.data(), std::streamsize(h.size()));
}

std::string nested(int depth, const std::string& inner) {
  return std::string(size_t(depth), '[') + inner + std::string(size_t(depth), ']');
}

}  // namespace

TEST_CASE("safetensors: hostile headers give errors, never a crash") {
  tg_test::TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  // 100,000 levels of nesting: parsing is iterative, but dumping the value
  // into the error message recursed once per level (a 200 KB file crashed)
  write_header_only(p, R"({"w":{"dtype":"F32","shape":)" + nested(100000, "1") + R"(,"data_offsets":[0,0]}})");
  CHECK_THROWS_WITH_AS(tg::load_safetensors(p),
                       doctest::Contains("tensor 'w': shape entry an array of 1 elements is not a non-negative integer"),
                       tg::Error);
  write_header_only(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":)" + nested(100000, "0") + "}}");
  CHECK_THROWS_WITH_AS(tg::load_safetensors(p),
                       doctest::Contains("'data_offsets' is not an array of two non-negative integers: an array of 1 "
                                         "elements"),
                       tg::Error);
  // an empty tensor (a zero dimension) whose other dimensions overflow its strides
  write_header_only(p, R"({"w":{"dtype":"F32","shape":[0,9223372036854775807,9223372036854775807],)"
                       R"("data_offsets":[0,0]}})");
  CHECK_THROWS_WITH_AS(tg::load_safetensors(p),
                       doctest::Contains("shape [0,9223372036854775807,9223372036854775807] is too large"), tg::Error);
  // empty tensors with sane shapes still load
  write_header_only(p, R"({"w":{"dtype":"F32","shape":[0,3,4],"data_offsets":[0,0]}})");
  CHECK(tg::load_safetensors(p).tensors.at("w").shape() == tg::Shape{0, 3, 4});
  // a directory is not a file (its size read as 2^63 - 1: std::bad_alloc)
  CHECK_THROWS_WITH_AS(tg::load_safetensors(dir.path.string()), doctest::Contains("is a directory"), tg::Error);
}

TEST_CASE("safetensors: what a save replaces, and names that are not UTF-8") {
  tg_test::TempDir dir;
  const std::map<std::string, Tensor> one = {{"w", tg::tensor({1.0f, 2.0f})}};
  const std::map<std::string, Tensor> two = {{"w", tg::tensor({3.0f, 4.0f})}};
  // through a symlink: the link's target is rewritten and the link stays a link
  const std::string real = dir.file("real.safetensors"), link = dir.file("link.safetensors");
  tg::save_safetensors(real, one);
  fs::create_symlink(real, link);
  tg::save_safetensors(link, two);
  CHECK(fs::is_symlink(link));
  CHECK(tg::load_safetensors(real).tensors.at("w").to_vector<float>() == std::vector<float>{3.0f, 4.0f});
  // never renamed over something that is not a regular file (as root, a save
  // to /dev/full replaced the device with a file)
  const std::string fifo = dir.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(fifo, one), doctest::Contains("exists and is not a regular file"),
                       tg::Error);
  CHECK(fs::is_fifo(fifo));
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file(""), one), doctest::Contains("is a directory"), tg::Error);
  // a name near the 255-byte limit: the temporary file's suffix does not fit
  // after it, so it gets a short name beside it
  const std::string long_name = dir.file(std::string(240, 'c') + ".safetensors");
  tg::save_safetensors(long_name, one);
  CHECK(tg::load_safetensors(long_name).tensors.at("w").to_vector<float>() == std::vector<float>{1.0f, 2.0f});
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) leftovers += e.path().string().find(".tmp.") != std::string::npos;
  CHECK(leftovers == 0);
  // a name that is not UTF-8: a tg::Error naming it (was nlohmann's type_error)
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("u.safetensors"), {{"w\xff", tg::tensor({1.0f})}}),
                       doctest::Contains("tensor name 'w\xff' is not valid UTF-8"), tg::Error);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("u.safetensors"), one, {{"note", "\xfe"}}),
                       doctest::Contains("metadata entry 'note' is not valid UTF-8"), tg::Error);
  CHECK_FALSE(fs::exists(dir.file("u.safetensors")));
}

TEST_CASE("safetensors: saving over a file keeps its permission bits") {
  // the temporary file was renamed over the old one with mode 0644: a private
  // checkpoint became world-readable
  tg_test::TempDir dir;
  const std::string p = dir.file("m.safetensors");
  auto mode = [&] {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  const mode_t mask = ::umask(022);
  ::umask(mask);
  tg::save_safetensors(p, {{"w", tg::ones({2})}});
  CHECK(mode() == (0644 & ~mask));  // a new file: as before
  for (const mode_t m : {0600, 0640, 0664, 0400}) {
    CAPTURE(m);
    REQUIRE(::chmod(p.c_str(), m) == 0);
    tg::save_safetensors(p, {{"w", tg::full({2}, double(m))}});
    CHECK(mode() == m);
    CHECK(tg::load_safetensors(p).tensors.at("w").to_vector<float>() == std::vector<float>{float(m), float(m)});
  }
  // through a symlink: the target keeps its mode
  const std::string link = dir.file("link.safetensors");
  fs::create_symlink(p, link);
  REQUIRE(::chmod(p.c_str(), 0600) == 0);
  tg::save_safetensors(link, {{"w", tg::zeros({2})}});
  CHECK(mode() == 0600);
}

TEST_CASE("optimizer state: step counts below 1 are refused, state_dict() is a snapshot, extra keys") {
  Tensor w = tg::tensor({1.0, 2.0});
  w.requires_grad_();
  tg::optim::Adam opt({w}, {.lr = 0.1});
  (w * w).sum().backward();
  opt.step();
  const tg::optim::OptimizerState snap = opt.state_dict();
  const std::vector<double> m1 = snap.tensors.at("state.0.exp_avg").to_vector<double>();
  opt.zero_grad();
  (w * w).sum().backward();
  opt.step();
  // a snapshot: the live moments moved on, the snapshot did not
  CHECK(snap.tensors.at("state.0.exp_avg").to_vector<double>() == m1);
  CHECK(opt.state_dict().tensors.at("state.0.exp_avg").to_vector<double>() != m1);
  // step 0 or below: Adam's bias correction 1 - beta^0 = 0 made every parameter NaN
  for (const char* bad : {"0", "-1"}) {
    tg::optim::OptimizerState s = snap;
    s.metadata["state.0.step"] = bad;
    CHECK_THROWS_WITH_AS(opt.load_state_dict(s), doctest::Contains("state.0.step must be in [1, 9007199254740992]"),
                         tg::Error);
  }
  opt.load_state_dict(snap);  // a good one still loads
  CHECK(opt.state_dict().tensors.at("state.0.exp_avg").to_vector<double>() == m1);
  // an extra metadata key may not take the format's name either
  tg_test::TempDir dir;
  CHECK_THROWS_WITH_AS(tg::optim::save_state(opt, dir.file("o.safetensors"), {{"format", "mine"}}),
                       doctest::Contains("extra metadata key 'format' collides"), tg::Error);
}

TEST_CASE("scheduler state: wrong JSON types are tg::Errors naming the key") {
  Tensor w = tg::tensor({1.0});
  w.requires_grad_();
  tg::optim::SGD opt({w}, {.lr = 0.1});
  tg::optim::StepLR sched(opt, {.step_size = 2});
  const std::string good = sched.state_dict();
  auto with = [&](const std::string& key, const std::string& value) {
    nlohmann::json j = nlohmann::json::parse(good);
    j[key] = nlohmann::json::parse(value);
    return j.dump();
  };
  CHECK_THROWS_WITH_AS(sched.load_state_dict(with("last_epoch", "\"3\"")),
                       doctest::Contains("'last_epoch' must be an integer, got a JSON string"), tg::Error);
  CHECK_THROWS_WITH_AS(sched.load_state_dict(with("last_epoch", "1e300")),
                       doctest::Contains("'last_epoch' must be an integer, got 1e+300"), tg::Error);
  CHECK_THROWS_WITH_AS(sched.load_state_dict(with("base_lrs", "[null]")),
                       doctest::Contains("'base_lrs' must be a number, got a JSON null"), tg::Error);
  sched.load_state_dict(good);
}

namespace {
struct Clash : tg::nn::Module {
  Clash() : Module("Clash") {}
  using Module::register_buffer;
  using Module::register_parameter;
};
}  // namespace

TEST_CASE("module: one name space for parameters, buffers and child modules") {
  // a parameter and a buffer both called x were one checkpoint key: the
  // buffer's values loaded into the parameter without an error
  Clash m;
  m.register_parameter("x", tg::ones({2}));
  CHECK_THROWS_WITH_AS(m.register_buffer("x", tg::zeros({2})),
                       doctest::Contains("Clash: buffer 'x': the name is already taken by a parameter"), tg::Error);
  m.register_buffer("y", tg::zeros({2}));
  CHECK_THROWS_WITH_AS(m.register_parameter("y", tg::ones({2})),
                       doctest::Contains("Clash: parameter 'y': the name is already taken by a buffer"), tg::Error);
  CHECK_THROWS_WITH_AS(m.register_module("x", std::make_shared<tg::nn::ReLU>()),
                       doctest::Contains("Clash: module 'x': the name is already taken by a parameter"), tg::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("x", tg::ones({2})), doctest::Contains("Clash: parameter 'x' registered twice"),
                       tg::Error);
}
