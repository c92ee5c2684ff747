#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz/corpus/<target>/): small valid
files and corrupt variants of each. Re-run to regenerate; output is committed."""
import gzip, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def gz(b):
    return gzip.compress(b, mtime=0)

# ---- IDX
def idx(type_byte, dims, payload):
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

images = idx(0x08, [2, 4, 4], bytes(range(32)))
labels = idx(0x08, [5], bytes([0, 1, 2, 9, 3]))
floats = idx(0x0D, [3], struct.pack(">3f", 1.5, -2.0, 0.25))
doubles = idx(0x0E, [2, 1], struct.pack(">2d", 3.0, -1e300))
shorts = idx(0x0B, [2], struct.pack(">2h", -7, 300))
ints = idx(0x0C, [1], struct.pack(">i", -123456))
put("idx", "images_ubyte", images)
put("idx", "labels_ubyte", labels)
put("idx", "float32", floats)
put("idx", "float64", doubles)
put("idx", "int16", shorts)
put("idx", "int32", ints)
put("idx", "sbyte", idx(0x09, [3], bytes([0x80, 0x7F, 0])))
put("idx", "rank0", idx(0x08, [], b"\x05"))
put("idx", "zero_dim", idx(0x08, [0, 28, 28], b""))
put("idx", "images_gz", gz(images))
put("idx", "labels_gz", gz(labels))
put("idx", "two_members_gz", gz(images[:10]) + gz(images[10:]))
put("idx", "bad_magic", b"\x01\x00" + images[2:])
put("idx", "bad_type", images[:2] + b"\x07" + images[3:])
put("idx", "truncated_header", images[:6])
put("idx", "truncated_data", images[:-3])
put("idx", "trailing", images + b"\x00\x00")
put("idx", "huge_dims", idx(0x08, [0xFFFFFFFF, 0xFFFFFFFF], b"\x00" * 8))
put("idx", "gz_truncated", gz(images)[:-6])
put("idx", "gz_corrupt", gz(images)[:12] + b"\xff\xff\xff" + gz(images)[15:])
put("idx", "gz_in_gz", gz(gz(labels)))
put("idx", "empty", b"")

# ---- safetensors
def st(tensors, metadata=None, trailing=b""):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data + trailing

def st_raw(header_obj, data=b""):
    h = json.dumps(header_obj).encode()
    return struct.pack("<Q", len(h)) + h + data

w = ("F32", [2, 3], struct.pack("<6f", *range(6)))
b = ("F32", [3], struct.pack("<3f", 0.5, -0.5, 1.0))
put("safetensors", "model", st({"0.weight": w, "0.bias": b}, {"arch": "mlp", "epoch": "1"}))
put("safetensors", "f64_i64_scalar", st({"a": ("F64", [], struct.pack("<d", 2.5)), "n": ("I64", [2], struct.pack("<2q", -1, 7))}))
put("safetensors", "empty_tensor", st({"e": ("F32", [0, 4], b"")}))
put("safetensors", "no_tensors", st({}, {"k": "v"}))
put("safetensors", "trailing", st({"w": w}, trailing=b"\x00" * 8))
put("safetensors", "truncated", st({"w": w})[:-5])
put("safetensors", "short", b"\x08\x00\x00")
put("safetensors", "huge_header_len", struct.pack("<Q", 1 << 62) + b"{}")
put("safetensors", "bad_json", struct.pack("<Q", 6) + b"{\"a\":]")
put("safetensors", "unsupported_dtype", st({"h": ("F16", [2], b"\x00" * 4)}))
put("safetensors", "unknown_dtype", st({"h": ("Q7", [2], b"\x00" * 4)}))
put("safetensors", "overlap", st_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4))
put("safetensors", "gap", st_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\x00" * 8))
put("safetensors", "negative_shape", st_raw({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\x00" * 4))
put("safetensors", "shape_overflow", st_raw({"a": {"dtype": "F64", "shape": [1 << 62, 1 << 62], "data_offsets": [0, 8]}}, b"\x00" * 8))
put("safetensors", "metadata_not_string", st_raw({"__metadata__": {"k": 1}}))
put("safetensors", "header_array", st_raw([1, 2]))
put("safetensors", "too_many_dims", st_raw({"a": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, b"\x00" * 4))

# ---- CLI: one argument per line (argv[0] is added by the target)
cli = {
    "train": "train\n--model\nmlp\n--data\nmnist-digits\n--epochs\n2\n--out\nrun",
    "train_all": "train\n--model\nlenet\n--data\nfashion-mnist\n--data-root\nd\n--epochs\n3\n--batch-size\n64\n--optimizer\nadamw\n--lr\n1e-3\n--seed\n7\n--threads\n2\n--limit\n100\n--out\nr\n--resume\n--quiet",
    "finetune": "finetune\n--from\nrun/model.safetensors\n--data\nmnist-digits\n--mode\nfrozen\n--head-lr\n0.01\n--backbone-lr\n1e-4\n--out\nr2",
    "eval": "eval\n--model\nrun/model.safetensors\n--data\nfashion-mnist",
    "inspect": "inspect\nrun/model.safetensors",
    "help": "--help",
    "train_help": "train\n--help",
    "bad_model": "train\n--model\nresnet\n--out\nr",
    "bad_number": "train\n--epochs\n-3\n--lr\nabc\n--out\nr",
    "huge_number": "train\n--seed\n99999999999999999999999\n--batch-size\n1e400\n--out\nr",
    "equals": "train\n--model=mlp\n--epochs=1\n--out=r\n--stop-after-batches=5",
    "no_command": "--model\nmlp",
    "two_commands": "train\n--out\nr\neval\n--model\nm",
}
for k, v in cli.items():
    put("cli", k, v)
