"""Minimal safetensors reader/writer (no dependency on the `safetensors` package).

File layout (https://github.com/huggingface/safetensors):
  * 8 bytes: little-endian u64 N = length of the JSON header in bytes
  * N bytes: UTF-8 JSON header, right-padded with spaces so that N % 8 == 0:
      {"__metadata__": {str: str}, "<name>": {"dtype": "F32"|"F64"|"I64"|...,
       "shape": [...], "data_offsets": [begin, end]}, ...}
    data_offsets are byte offsets relative to the start of the data section.
  * the data section: raw little-endian, C-contiguous tensor bytes.
Tensors are written in sorted-name order, back to back, no padding between them.
"""
import json
import struct

import numpy as np

_NP_TO_ST = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}


def _to_numpy(t):
    if isinstance(t, np.ndarray):
        return t
    # torch.Tensor (imported lazily so this module works without torch)
    return t.detach().cpu().contiguous().numpy()


def save_file(tensors, path, metadata=None):
    """tensors: dict name -> numpy array or torch tensor. metadata: dict str -> str."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = _to_numpy(tensors[name])
        if a.dtype not in _NP_TO_ST:
            raise TypeError(f"unsupported dtype {a.dtype} for {name}")
        shape = a.shape  # np.ascontiguousarray turns 0-d arrays into 1-d: restore the shape
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).reshape(shape)
        b = a.tobytes()
        header[name] = {
            "dtype": _NP_TO_ST[a.dtype.newbyteorder("=")],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_file(path):
    """Returns (dict name -> numpy array, metadata dict or {})."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("header length exceeds file size")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = _ST_TO_NP[info["dtype"]].newbyteorder("<")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        if e > len(data) or b > e:
            raise ValueError(f"bad data_offsets for {name}")
        a = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
        out[name] = a.astype(dt.newbyteorder("="), copy=True)
    return out, meta


def load_torch(path):
    """Like load_file but returns torch tensors."""
    import torch
    arrs, meta = load_file(path)
    return {k: torch.from_numpy(v) for k, v in arrs.items()}, meta
