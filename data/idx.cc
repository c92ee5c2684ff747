// IDX reading and writing (see idx.h for the format). Files are read whole;
// gzip is detected by its magic bytes and inflated with zlib, member after
// member (concatenated gzip files are valid gzip).
#include "data/idx.h"

#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace tg::data {
namespace {

std::string hex2(unsigned v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x00";
  s[2] = digits[(v >> 4) & 15];
  s[3] = digits[v & 15];
  return s;
}

}  // namespace

std::string idx_dims_str(const std::vector<int64_t>& d) {
  std::ostringstream os;
  os << "[";
  // at most 8 dims: a corrupt rank byte (up to 255) would print hundreds
  for (size_t i = 0; i < d.size() && i < 8; ++i) os << (i ? "," : "") << d[i];
  if (d.size() > 8) os << ", ... (" << d.size() << " dims)";
  os << "]";
  return os.str();
}

namespace {
std::string dims_str(const std::vector<int64_t>& d) { return idx_dims_str(d); }

bool valid_type(uint8_t t) {
  return t == 0x08 || t == 0x09 || t == 0x0B || t == 0x0C || t == 0x0D || t == 0x0E;
}

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Reverses the bytes of every `size`-byte element in place (big <-> little).
void swap_elements(uint8_t* p, size_t n, size_t size) {
  if (size == 1 || std::endian::native == std::endian::big) return;
  for (size_t i = 0; i < n; ++i, p += size)
    for (size_t a = 0, b = size - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

// The whole of an open file of n bytes.
std::vector<uint8_t> slurp(std::ifstream& f, std::streamoff n, const std::string& path) {
  f.clear();
  f.seekg(0, std::ios::beg);
  std::vector<uint8_t> buf(static_cast<size_t>(n));
  if (n > 0) f.read(reinterpret_cast<char*>(buf.data()), n);
  TG_CHECK(f.good() || f.eof(), path, ": read error after ", f.gcount(), " of ", n, " bytes");
  TG_CHECK(f.gcount() == n, path, ": short read: expected ", n, " bytes, got ", f.gcount());
  return buf;
}

// Reads up to `cap` bytes of the compressed stream starting at offset `off`
// into `dst`; returns how many it read.
using ReadAt = std::function<size_t(size_t off, uint8_t* dst, size_t cap)>;

// Inflates every gzip member of a compressed stream of `total` bytes, pulled
// through `read_at` 1 MiB at a time (so a file never has to be in memory
// whole next to its inflated bytes); throws on any corruption or truncation.
std::vector<uint8_t> gunzip(size_t total, const ReadAt& read_at, const std::string& path) {
  std::vector<uint8_t> out;
  // The last four bytes of a gzip member hold its size mod 2^32: a good first
  // guess, with room for the call that finds the end of the stream (growing a
  // full vector would hold two copies at once).
  if (total >= 18) {
    uint8_t t[4];
    if (read_at(total - 4, t, 4) == 4) {
      const uint32_t isize = uint32_t(t[0]) | (uint32_t(t[1]) << 8) | (uint32_t(t[2]) << 16) |
                             (uint32_t(t[3]) << 24);
      out.reserve(std::min<size_t>(isize, total * 1100) + (size_t(1) << 16));  // deflate: <= ~1032:1
    }
  }
  std::vector<uint8_t> in(std::min<size_t>(total, size_t(1) << 20));
  size_t in_off = 0, in_len = 0;  // in[0, in_len) holds compressed bytes [in_off, in_off + in_len)
  size_t pos = 0;                 // start of the current member
  while (pos < total) {
    z_stream zs{};
    TG_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, path, ": zlib inflateInit2 failed");
    in_off = pos;
    in_len = 0;
    zs.next_in = in.data();
    zs.avail_in = 0;
    const auto offset = [&] { return in_off + size_t(zs.next_in - in.data()); };
    int rc = Z_OK;
    for (;;) {
      if (zs.avail_in == 0 && offset() < total) {  // next piece of input
        in_off = offset();
        in_len = read_at(in_off, in.data(), std::min(in.size(), total - in_off));
        TG_CHECK(in_len > 0, path, ": read error at compressed byte offset ", in_off);
        zs.next_in = in.data();
        zs.avail_in = uInt(in_len);
      }
      // Inflate into a window of at most 16 MiB past the current end (resize
      // zero-fills only the window; the vector grows geometrically).
      const size_t before = out.size();
      const size_t spare = out.capacity() - before;
      out.resize(before + std::clamp<size_t>(spare, size_t(1) << 16, size_t(1) << 24));
      zs.next_out = out.data() + before;
      zs.avail_out = uInt(std::min<size_t>(out.size() - before, std::numeric_limits<uInt>::max()));
      const uInt given = zs.avail_out;
      rc = inflate(&zs, Z_NO_FLUSH);
      out.resize(before + (given - zs.avail_out));
      if (rc == Z_STREAM_END) break;
      if (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_in == 0 && offset() < total)) continue;
      const size_t at = offset();
      const std::string msg = zs.msg ? zs.msg : "";
      inflateEnd(&zs);
      if (rc == Z_BUF_ERROR)
        detail::throw_error(path, ": corrupt gzip stream: truncated (the compressed data ends at byte ",
                            total, " before the end of the stream; ", out.size(),
                            " bytes inflated)");
      detail::throw_error(path, ": corrupt gzip stream at compressed byte offset ", at, ": ",
                          msg.empty() ? "zlib error " + std::to_string(rc) : msg);
    }
    pos = offset();
    inflateEnd(&zs);
    // Another member may follow; anything else (e.g. zero padding) is ignored like gzip(1) does.
    uint8_t m[2];
    if (!(pos + 1 < total && read_at(pos, m, 2) == 2 && m[0] == 0x1f && m[1] == 0x8b)) break;
  }
  // (shrink_to_fit would copy: only worth it when the guess was far off)
  if (out.capacity() - out.size() > out.size() / 8 + (size_t(1) << 20)) out.shrink_to_fit();
  return out;
}

std::vector<uint8_t> gunzip(std::span<const uint8_t> in, const std::string& path) {
  return gunzip(in.size(), [&](size_t off, uint8_t* dst, size_t cap) {
    const size_t n = std::min(cap, in.size() - std::min(off, in.size()));
    if (n) std::memcpy(dst, in.data() + off, n);
    return n;
  }, path);
}

}  // namespace

const char* idx_type_name(IdxType t) {
  switch (t) {
    case IdxType::UInt8: return "ubyte";
    case IdxType::Int8: return "sbyte";
    case IdxType::Int16: return "short";
    case IdxType::Int32: return "int";
    case IdxType::Float32: return "float";
    case IdxType::Float64: return "double";
  }
  return "unknown";
}

size_t idx_type_size(IdxType t) {
  switch (t) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  return 0;
}

int64_t IdxArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

double IdxArray::value(int64_t i) const {
  TG_CHECK(i >= 0 && i < numel(), path, ": IdxArray::value: index ", i, " out of range for ",
           numel(), " elements");
  const uint8_t* p = bytes.data() + size_t(i) * element_size();
  switch (type) {
    case IdxType::UInt8: return *p;
    case IdxType::Int8: return int8_t(*p);
    case IdxType::Int16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case IdxType::Int32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case IdxType::Float32: { float v; std::memcpy(&v, p, 4); return v; }
    case IdxType::Float64: { double v; std::memcpy(&v, p, 8); return v; }
  }
  return 0;
}

std::vector<uint8_t> read_file_bytes(const std::string& path, bool* was_gzip) {
  if (was_gzip) *was_gzip = false;
  // A directory opens as a stream whose size reads as huge (ext4): check first.
  struct stat st {};
  TG_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot open: ", std::strerror(errno));
  TG_CHECK(S_ISREG(st.st_mode), path, ": is ", S_ISDIR(st.st_mode) ? "a directory" : "not a regular file",
           ", not an IDX file");
  std::ifstream f(path, std::ios::binary);
  TG_CHECK(f.good(), path, ": cannot open: ", std::strerror(errno));
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  TG_CHECK(n >= 0, path, ": cannot determine the file size");
  uint8_t magic[2] = {0, 0};
  f.seekg(0, std::ios::beg);
  if (n >= 2) f.read(reinterpret_cast<char*>(magic), 2);
  if (!(n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)) return slurp(f, n, path);
  // gzip: inflate straight from the file, never holding it whole
  if (was_gzip) *was_gzip = true;
  return gunzip(size_t(n), [&](size_t off, uint8_t* dst, size_t cap) -> size_t {
    f.clear();
    f.seekg(std::streamoff(off), std::ios::beg);
    f.read(reinterpret_cast<char*>(dst), std::streamsize(cap));
    return size_t(f.gcount());
  }, path);
}

std::vector<uint8_t> inflate_if_gzip(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return gunzip(bytes, name);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

namespace {
// Checks an IDX header against a stream of n bytes whose first bytes are
// `s` (at least the whole header, or all n if fewer); returns the array
// without its data and the header size.
IdxArray parse_header(std::span<const uint8_t> s, size_t n, const std::string& name, size_t* header_size) {
  TG_CHECK(n >= 4, name, ": truncated header: expected 4 bytes of magic/type/rank at offset 0, file has ",
           n, " bytes");
  TG_CHECK(s[0] == 0 && s[1] == 0, name, ": bad magic at offset 0: expected 0x00 0x00, found ",
           hex2(s[0]), " ", hex2(s[1]), " (not an IDX file",
           (s[0] == 0x1f && s[1] == 0x8b ? "; a gzip stream inside a gzip file?" : ""), ")");
  TG_CHECK(valid_type(s[2]), name, ": bad element type at offset 2: expected one of 0x08 ubyte, ",
           "0x09 sbyte, 0x0b short, 0x0c int, 0x0d float, 0x0e double, found ", hex2(s[2]));
  IdxArray a;
  a.path = name;
  a.type = IdxType(s[2]);
  const int rank = s[3];
  const size_t header = 4 + 4 * size_t(rank);
  TG_CHECK(n >= header, name, ": truncated header: rank ", rank, " (byte at offset 3) needs ",
           header, " header bytes, file has ", n);
  const size_t esize = idx_type_size(a.type);
  // prod(dims) * esize must fit; compare with the file size before multiplying further.
  unsigned __int128 need = esize;
  unsigned __int128 nonzero = 1;  // product of the non-zero dims: a 0 dim must not hide an overflow
  const auto kMax = (unsigned __int128)(std::numeric_limits<int64_t>::max());
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = load_be32(s.data() + 4 + 4 * i);
    a.dims.push_back(int64_t(d));
    need *= d;
    if (need > kMax) need = kMax;
    if (d) nonzero = std::min(nonzero * d, kMax + 1);
  }
  TG_CHECK(nonzero <= kMax, name, ": rank ", rank, " (byte at offset 3), dims ", dims_str(a.dims),
           " (offset 4) are too large: their product overflows int64");
  const size_t have = n - header;
  // need was clamped at 2^63 - 1 above: say so rather than print the clamp
  const std::string need_str = need >= kMax ? "more than 2^63" : std::to_string(uint64_t(need));
  const std::string all_str = need >= kMax ? "more than 2^63" : std::to_string(uint64_t(need) + header);
  TG_CHECK(need <= have, name, ": truncated: expected ", need_str, " bytes of data at offset ", header, " (",
           all_str, " bytes in all), file has ", have, " (", n, " in all) for ", idx_type_name(a.type),
           " rank ", rank, " (byte at offset 3), dims ", dims_str(a.dims));
  TG_CHECK(need == have, name, ": dimension mismatch: rank ", rank, " (byte at offset 3), dims ", dims_str(a.dims), " of ",
           idx_type_name(a.type), " need ", uint64_t(need), " bytes of data at offset ", header,
           ", file has ", have, " (", have - size_t(need), " extra bytes at offset ",
           header + size_t(need), ")");
  *header_size = header;
  return a;
}
}  // namespace

IdxArray parse_idx(std::span<const uint8_t> s, const std::string& name) {
  size_t header = 0;
  IdxArray a = parse_header(s, s.size(), name, &header);
  a.bytes.assign(s.begin() + header, s.end());
  swap_elements(a.bytes.data(), size_t(a.numel()), a.element_size());
  return a;
}

IdxArray read_idx(const std::string& path) {
  bool gz = false;
  std::vector<uint8_t> s = read_file_bytes(path, &gz);
  // Check the header on a copy of it only, then move the data out of `s`
  // (one shift in place) rather than copying it: a second copy of 47 MB of
  // images was the peak of a training process. The offsets in the messages
  // of a gzip file are into its uncompressed data, and say so.
  size_t header = 0;
  IdxArray a = parse_header(s, s.size(), gz ? path + " (gzip; byte offsets are in the uncompressed data)" : path,
                            &header);
  a.path = path;
  a.gzip = gz;
  std::memmove(s.data(), s.data() + header, s.size() - header);
  s.resize(s.size() - header);
  a.bytes = std::move(s);
  swap_elements(a.bytes.data(), size_t(a.numel()), a.element_size());
  return a;
}

void write_idx(const std::string& path, IdxType type, const std::vector<int64_t>& dims,
               const void* data, bool gzip) {
  const size_t esize = idx_type_size(type);
  TG_CHECK(esize != 0, path, ": write_idx: invalid element type ", hex2(unsigned(type)));
  TG_CHECK(dims.size() <= 255, path, ": write_idx: rank ", dims.size(), " exceeds 255");
  std::vector<uint8_t> buf = {0, 0, uint8_t(type), uint8_t(dims.size())};
  size_t numel = 1;
  for (int64_t d : dims) {
    TG_CHECK(d >= 0 && d <= int64_t(UINT32_MAX), path, ": write_idx: dimension ", d, " out of range");
    for (int k = 3; k >= 0; --k) buf.push_back(uint8_t(uint64_t(d) >> (8 * k)));
    numel *= size_t(d);
  }
  const size_t header = buf.size();
  buf.resize(header + numel * esize);
  if (numel) std::memcpy(buf.data() + header, data, numel * esize);
  swap_elements(buf.data() + header, numel, esize);
  if (!gzip) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    TG_CHECK(f.good(), path, ": cannot open for writing: ", std::strerror(errno));
    f.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
    TG_CHECK(f.good(), path, ": write failed");
    return;
  }
  gzFile g = gzopen(path.c_str(), "wb");
  TG_CHECK(g != nullptr, path, ": cannot open for writing: ", std::strerror(errno));
  size_t done = 0;
  while (done < buf.size()) {
    const unsigned chunk = unsigned(std::min<size_t>(buf.size() - done, 1u << 30));
    const int w = gzwrite(g, buf.data() + done, chunk);
    if (w <= 0) {
      gzclose(g);
      detail::throw_error(path, ": gzip write failed");
    }
    done += size_t(w);
  }
  TG_CHECK(gzclose(g) == Z_OK, path, ": gzip close failed");
}

}  // namespace tg::data
