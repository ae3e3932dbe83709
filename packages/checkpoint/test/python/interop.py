"""Python side of the interop test: the reference safetensors library reading and writing files.

  interop.py read PATH          -> JSON: metadata and every tensor (dtype, shape, LE bytes as hex, values)
  interop.py write PATH         -> writes a file with safetensors.numpy.save_file; JSON: what it wrote
  interop.py save-bytes PATH    -> writes safetensors.numpy.save(...) bytes for the byte-identity check
  interop.py convert            -> stdin: JSON list of float32 bit patterns; JSON: float16 and bfloat16 bits
  interop.py write-foreign PATH -> save_file with complex64 and float8 tensors and a "strata" note; JSON: the rest
"""
import json
import math
import struct
import sys

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save, save_file

NUMPY_TO_DTYPE = {
    np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
    np.dtype(ml_dtypes.bfloat16): "BF16", np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16", np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint16): "U16", np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64",
}


def plain(value):
    """JSON-safe scalar: floats keep NaN/inf as strings, integers as strings (exact for 64-bit)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0 and math.copysign(1, f) < 0:
        return "-0"
    return f


def describe(array):
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {
        "dtype": NUMPY_TO_DTYPE[np.dtype(array.dtype)],
        "shape": list(array.shape),
        "hex": np.ascontiguousarray(little).tobytes().hex(),
        "values": [plain(v) for v in array.reshape(-1).tolist()] if array.dtype != ml_dtypes.bfloat16 else [plain(float(v)) for v in array.reshape(-1)],
    }


def read(path):
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        names = list(f.keys())
    print(json.dumps({"metadata": metadata, "names": names, "tensors": {k: describe(v) for k, v in tensors.items()}}))


def sample_tensors():
    return {
        "half": np.array([[1.0, -2.5], [65504.0, 6.1e-05]], dtype=np.float16),
        "half.nan": np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float16),
        "brain": np.array([1.0, -3.140625, 1e30, 0.0], dtype=ml_dtypes.bfloat16),
        "long": np.array([0, -1, 2**62, -(2**63), 2**63 - 1], dtype=np.int64),
        "flags": np.array([[True, False, True], [False, False, True]], dtype=np.bool_),
        "single": np.array([0.1, -0.2, 3e38], dtype=np.float32),
        "double": np.array([1e-300, math.pi], dtype=np.float64),
        "small": np.array([-128, 127], dtype=np.int8),
        "bytes": np.array([0, 255, 7], dtype=np.uint8),
        "short": np.array([-32768, 1], dtype=np.int16),
        "int": np.array([[1, -2], [3, -4]], dtype=np.int32),
        "ushort": np.array([65535], dtype=np.uint16),
        "uint": np.array([4294967295], dtype=np.uint32),
        "ulong": np.array([2**64 - 1], dtype=np.uint64),
        "scalar": np.array(5.0, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def write(path):
    tensors = sample_tensors()
    save_file(tensors, path, metadata={"framework": "numpy", "note": "written by Python"})
    print(json.dumps({k: describe(v) for k, v in tensors.items()}))


def save_bytes(path):
    tensors = sample_tensors()
    with open(path, "wb") as f:
        f.write(save(tensors, metadata={"note": "byte identity"}))
    print(json.dumps({k: describe(v) for k, v in tensors.items()}))


def write_foreign(path):
    tensors = {
        "weight": np.array([1.5, -2.0], dtype=np.float32),
        "ids": np.array([7, 8, 9], dtype=np.int64),
        "complex": np.array([1 + 2j, -3.5 + 0.25j], dtype=np.complex64),
        "fp8": np.array([[1.0, -2.0], [0.5, 448.0]], dtype=ml_dtypes.float8_e4m3fn),
        "fp8b": np.array([1.0], dtype=ml_dtypes.float8_e5m2),
    }
    save_file(tensors, path, metadata={"strata": "my notes"})
    print(json.dumps({k: describe(v) for k, v in tensors.items() if np.dtype(v.dtype) in NUMPY_TO_DTYPE}))


def convert():
    bits = json.load(sys.stdin)
    values = np.array(bits, dtype=np.uint32).view(np.float32)
    half = values.astype(np.float16).view(np.uint16)
    brain = values.astype(ml_dtypes.bfloat16).view(np.uint16)
    print(json.dumps({"f16": [int(b) for b in half], "bf16": [int(b) for b in brain]}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "read":
        read(sys.argv[2])
    elif command == "write":
        write(sys.argv[2])
    elif command == "save-bytes":
        save_bytes(sys.argv[2])
    elif command == "write-foreign":
        write_foreign(sys.argv[2])
    elif command == "convert":
        convert()
    else:
        raise SystemExit(f"unknown command {command}")
