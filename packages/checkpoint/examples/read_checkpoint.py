"""An independent reader of Strata checkpoints written from the format description in the README,
using only the Python standard library. It verifies the digests and rebuilds the object tree.

    python3 read_checkpoint.py CHECKPOINT.safetensors   # prints a JSON summary
"""
import datetime
import hashlib
import json
import math
import struct
import sys

ITEM_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8}
STRUCT_CODE = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h", "I8": "b",
               "U8": "B", "BOOL": "?", "U16": "H", "U32": "I", "U64": "Q"}


class Tensor:
    def __init__(self, dtype, shape, raw):
        self.dtype, self.shape, self.raw = dtype, shape, raw

    def values(self):
        n = len(self.raw) // ITEM_SIZE[self.dtype]
        if self.dtype == "BF16":  # the high half of a float32
            return [struct.unpack("<f", b"\0\0" + self.raw[2 * i:2 * i + 2])[0] for i in range(n)]
        return list(struct.unpack(f"<{n}{STRUCT_CODE[self.dtype]}", self.raw))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)) or "__proto__" in keys:
        raise ValueError("duplicate or forbidden key in header")
    return dict(pairs)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError("bad header length")
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", None) or {}
    start = 8 + n
    tensors, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        b, e = info["data_offsets"]
        if b != end or e - b != math.prod(info["shape"]) * ITEM_SIZE[info["dtype"]]:
            raise ValueError(f"bad offsets for {name}")
        tensors[name] = Tensor(info["dtype"], info["shape"], data[start + b:start + e])
        end = e
    if start + end != len(data):
        raise ValueError("data region does not end at the end of the file")
    if metadata.get("format") != "strata-checkpoint":
        return {"format": "safetensors", "tree": tensors}

    strata = metadata["strata"]
    if metadata["digest"] != "sha256:" + hashlib.sha256(strata.encode("utf-8", "surrogatepass")).hexdigest():
        raise ValueError("metadata digest mismatch")
    content = json.loads(strata, object_pairs_hook=no_duplicates)
    for entry in content["tensors"]:
        t = tensors[entry["name"]]
        if (t.dtype, t.shape) != (entry["dtype"], entry["shape"]):
            raise ValueError(f"manifest disagrees with header for {entry['name']}")
        if hashlib.sha256(t.raw).hexdigest() != entry["sha256"]:
            raise ValueError(f"tensor digest mismatch for {entry['name']}")
    return {"format": "strata-checkpoint", "version": int(metadata["version"]), "tree": decode(content["tree"], tensors)}


UNDEFINED = object()


def decode(node, tensors):
    if isinstance(node, list):
        return [decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1 and next(iter(node)).startswith("$"):
        tag, payload = next(iter(node.items()))
        if tag == "$number":
            return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}[payload]
        if tag == "$bigint":
            return int(payload)
        if tag == "$undefined":
            return UNDEFINED
        if tag == "$date":
            return None if payload is None else datetime.datetime.fromisoformat(payload.replace("Z", "+00:00"))
        if tag == "$map":
            return [(decode(k, tensors), decode(v, tensors)) for k, v in payload]
        if tag == "$set":
            return [decode(v, tensors) for v in payload]
        if tag == "$object":
            return {k: decode(v, tensors) for k, v in payload.items()}
        if tag == "$tensor":
            return tensors[payload]
        if tag == "$array":
            return tensors[payload["tensor"]]
        raise ValueError(f"unknown tag {tag}")
    return {k: decode(v, tensors) for k, v in node.items()}


def summary(value):
    """JSON-friendly view used by the test that checks this reader against the TypeScript one."""
    if isinstance(value, Tensor):
        return {"dtype": value.dtype, "shape": value.shape, "values": [summary(v) for v in value.values()]}
    if value is UNDEFINED:
        return "<undefined>"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value) or (value == 0 and math.copysign(1, value) < 0)):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, tuple):
        return [summary(v) for v in value]
    if isinstance(value, list):
        return [summary(v) for v in value]
    if isinstance(value, dict):
        return {k: summary(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    result = read(sys.argv[1])
    print(json.dumps({"format": result["format"], "version": result.get("version"), "tree": summary(result["tree"])}, indent=1, sort_keys=True))
