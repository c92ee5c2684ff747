// IDX files: the MNIST container format, read in full, from raw or gzip files.
//
// Layout (big-endian throughout), as described on Yann LeCun's MNIST page:
//   offset 0  u8 0x00, u8 0x00          magic
//   offset 2  u8 type                   0x08 ubyte, 0x09 sbyte, 0x0B int16,
//                                       0x0C int32, 0x0D float32, 0x0E float64
//   offset 3  u8 rank                   number of dimensions
//   offset 4  u32 dims[rank]            sizes, outermost first
//   offset 4+4*rank                     prod(dims) elements, row-major
// A file whose first two bytes are the gzip magic (0x1f 0x8b) is inflated
// first, whatever its name. Every check (magic, type, rank, dimensions against
// the file size, truncation, trailing bytes, corrupt gzip) throws tg::Error
// naming the path, what was expected, what was found and the byte offset
// (offsets count bytes of the decompressed IDX stream).
//
// read_idx keeps the elements in host byte order in IdxArray::bytes: ubyte
// stays uint8 (MNIST images are never widened in memory). idx_to_tensor turns
// an array into a float32/float64/int64 tg::Tensor (see idx_tensor.cc).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace tg {
class Tensor;
}

namespace tg::data {

enum class IdxType : uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E,
};

// "ubyte", "sbyte", "short", "int", "float", "double"; "unknown" otherwise.
const char* idx_type_name(IdxType t);
// Element size in bytes; 0 for a byte that is not a valid IdxType.
size_t idx_type_size(IdxType t);

struct IdxArray {
  std::string path;             // where it came from (for messages)
  bool gzip = false;            // read from a gzip file (read_idx): offsets are in the uncompressed data
  IdxType type = IdxType::UInt8;
  std::vector<int64_t> dims;    // outermost first; empty for a rank-0 scalar
  std::vector<uint8_t> bytes;   // numel() elements of `type`, host byte order

  int64_t numel() const;
  size_t element_size() const { return idx_type_size(type); }
  // Typed pointer to the elements; T must match `type` (uint8_t, int8_t,
  // int16_t, int32_t, float, double).
  template <class T> const T* data() const;
  // Element i converted to double (any type).
  double value(int64_t i) const;
};

// Reads a whole file into memory; inflates it when it starts with the gzip
// magic. Throws tg::Error when the file cannot be opened or the gzip stream is
// corrupt or truncated.
std::vector<uint8_t> read_file_bytes(const std::string& path, bool* was_gzip = nullptr);

// Dims as "[2,28,28]", at most the first 8 (then ", ... (N dims)").
std::string idx_dims_str(const std::vector<int64_t>& dims);

// Inflates `bytes` when they start with the gzip magic (0x1f 0x8b), else
// returns them unchanged; `name` is used in messages. read_file_bytes = read +
// inflate_if_gzip.
std::vector<uint8_t> inflate_if_gzip(std::span<const uint8_t> bytes, const std::string& name);

// Parses an in-memory IDX stream; `name` is used in messages.
IdxArray parse_idx(std::span<const uint8_t> stream, const std::string& name);

// read_file_bytes + parse_idx.
IdxArray read_idx(const std::string& path);

// Writes an IDX file (big-endian) from host-order elements; gzip-compressed
// when `gzip` is true. Used by the tests and by tools that make fixtures.
void write_idx(const std::string& path, IdxType type, const std::vector<int64_t>& dims,
               const void* data, bool gzip = false);

// The array as a contiguous tensor of `dtype` (float32, float64 or int64),
// every element multiplied by `scale` (use 1/255 for images in [0, 1]).
// Throws for rank > 8 and for int64 targets with a non-unit scale.
Tensor idx_to_tensor(const IdxArray& a, DType dtype = kFloat32, double scale = 1.0);

// ---- template definitions ----
template <class T> struct idx_type_of;
template <> struct idx_type_of<uint8_t> { static constexpr IdxType value = IdxType::UInt8; };
template <> struct idx_type_of<int8_t> { static constexpr IdxType value = IdxType::Int8; };
template <> struct idx_type_of<int16_t> { static constexpr IdxType value = IdxType::Int16; };
template <> struct idx_type_of<int32_t> { static constexpr IdxType value = IdxType::Int32; };
template <> struct idx_type_of<float> { static constexpr IdxType value = IdxType::Float32; };
template <> struct idx_type_of<double> { static constexpr IdxType value = IdxType::Float64; };

template <class T>
const T* IdxArray::data() const {
  TG_CHECK(idx_type_of<T>::value == type, path, ": IdxArray::data: the array holds ",
           idx_type_name(type), " elements, requested ", idx_type_name(idx_type_of<T>::value));
  return reinterpret_cast<const T*>(bytes.data());
}

}  // namespace tg::data
