// safetensors files: the one checkpoint format of tapegrad (models, optimizer
// state, training state), readable and writable by PyTorch's `safetensors`.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
// u64 N; N bytes of UTF-8 JSON header, right-padded with spaces so that the
// data section starts at a multiple of 8; then the data section. The header
// maps each tensor name to {"dtype": "F32"|"F64"|"I64", "shape": [...],
// "data_offsets": [begin, end]} (offsets relative to the data section start,
// C-contiguous little-endian bytes) plus an optional "__metadata__" object of
// string -> string. 0-d tensors have "shape": [].
//
// Writing is atomic: the bytes go to a temporary file in the same directory
// ("<path>.tmp.<pid>.<n>"; a name left by an earlier process with the same pid
// is skipped for the next n), which is flushed, fsync'ed and renamed over
// <path>; any failure removes the temporary file and leaves <path> as it was.
// A file that is replaced keeps its permission bits; a new one is created
// with mode 0644 (less the umask).
//
// Reading validates everything before trusting it and never crashes on a
// corrupt file: each problem is a tg::Error naming the path, the tensor (for
// problems of one tensor's entry) and, for problems of the layout (header
// length, JSON syntax, a NUL byte, a byte order mark, data offsets that leave
// gaps, overlap, run past the end or do not match the shape, trailing
// bytes), the byte offset in the file. Policy, as in the reference Rust
// implementation: duplicate keys are refused at every level (tensor names,
// fields of an entry, __metadata__ and its keys); the header is JSON text
// without a NUL byte or a leading byte order mark; after sorting
// the tensors by their begin offset, the first must start at 0, each must
// start exactly where the previous one ended (no gaps, no overlaps), and the
// last must end exactly at the end of the file: trailing bytes are rejected.
// Other safetensors dtypes (F16, BF16, I32, U8, BOOL, ...) are recognized and
// refused with "unsupported dtype"; unrecognized strings are "unknown dtype".
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "tensor/tensor.h"

namespace tg {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;         // sorted by name
  std::map<std::string, std::string> metadata;   // the "__metadata__" object
};

// Writes `tensors` (float32, float64 or int64; any layout: written contiguous)
// atomically to `path`. Tensor names must be non-empty and not "__metadata__".
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole file. The returned tensors own fresh storage.
SafetensorsFile load_safetensors(const std::string& path);

// Validates and parses the bytes of a safetensors file held in memory (what
// load_safetensors does after reading the file); `name` is used in messages.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& name);

namespace testing {
// Failure injection for tests: when set to n >= 0, the next writes by
// save_safetensors fail (throw tg::Error) after n bytes of the temporary file
// have been written. -1 (the default) disables it. Not thread-safe; tests only.
void set_safetensors_fail_after(int64_t n_bytes);
}  // namespace testing

}  // namespace tg
