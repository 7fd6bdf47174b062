"""Minimal safetensors reader/writer on numpy arrays (no torch, no safetensors package).

Format: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, padded with
spaces to a multiple of 8, then the raw little-endian tensor bytes.
Used for reference.safetensors, for the sharded checkpoint and for checking what
transformers' save_pretrained wrote.
"""

import json
import struct

import numpy as np

_DT_TO_NP = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_NP_TO_DT = {np.dtype(v).str: k for k, v in _DT_TO_NP.items()}


def dtype_name(arr):
    a = np.asarray(arr)
    key = a.dtype.newbyteorder("<").str if a.dtype.byteorder == ">" else a.dtype.str
    if key not in _NP_TO_DT:
        raise TypeError(f"unsupported dtype for safetensors: {a.dtype}")
    return _NP_TO_DT[key]


def write_safetensors(path, tensors, metadata=None, raw=None):
    """tensors: ordered {name: np.ndarray}; raw: optional {name: (dtype_str, shape, bytes)}
    for tensors whose bytes are copied verbatim (e.g. bf16). Data laid out in given order."""
    header = {}
    blobs = []
    offset = 0
    items = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr))
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        items.append((name, dtype_name(a), list(a.shape), a.tobytes()))
    for name, (dt, shape, data) in (raw or {}).items():
        items.append((name, dt, list(shape), bytes(data)))
    for name, dt, shape, data in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (8 - len(hjson) % 8) % 8
    hjson += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return offset


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > 100 * 1024 * 1024:
            raise ValueError(f"{path}: implausible safetensors header size {n}")
        header = json.loads(f.read(n).decode("utf-8"))
    return n, header


def read_safetensors(path, as_raw=False):
    """Returns ({name: np.ndarray} (or (dtype, shape, bytes) if as_raw), metadata)."""
    n, header = read_header(path)
    meta = header.pop("__metadata__", None)
    with open(path, "rb") as f:
        f.seek(8 + n)
        data = f.read()
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        if e > len(data) or b > e:
            raise ValueError(f"{path}: tensor {name} offsets {b}:{e} outside data of {len(data)} bytes")
        chunk = data[b:e]
        if as_raw:
            out[name] = (info["dtype"], tuple(info["shape"]), chunk)
            continue
        dt = _DT_TO_NP.get(info["dtype"])
        if dt is None:
            raise TypeError(f"{path}: tensor {name} has dtype {info['dtype']} (not handled by this reader)")
        arr = np.frombuffer(chunk, dtype=np.dtype(dt).newbyteorder("<")).reshape(info["shape"])
        out[name] = arr
    return out, meta
