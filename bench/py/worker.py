"""One Python contender run in its own process (fsspec + s3fs/gcsfs/adlfs, safetensors + numpy).

Reads the task from the BENCH_TASK environment variable (JSON: module, task, params) and prints one
line `BENCH_RESULT <json>` on stdout, with the same phase fields as the Node worker.

Peak RSS: the kernel's high-water mark (VmHWM) is reset to the current RSS before each phase by
writing "5" to /proc/self/clear_refs, so the peak is the phase's own; ru_maxrss alone would carry
the parent's RSS from before exec and could not be reset.
"""

import gc
import json
import os
import re
import resource
import sys
import time
import uuid

import ml_dtypes
import numpy as np

RESULT_PREFIX = "BENCH_RESULT "
BLOCK = 4 * 1024 * 1024
ITEM_DTYPE = {
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "I64": np.int64,
}


# --------------------------------------------------------------------------------------------
# Measurement


def _status_field(field):
    try:
        with open("/proc/self/status") as f:
            match = re.search(field + r":\s+(\d+) kB", f.read())
        return int(match.group(1)) * 1024 if match else None
    except OSError:
        return None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def current_rss():
    rss = _status_field("VmRSS")
    return rss if rss is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss():
    hwm = _status_field("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def server_cpu_ms():
    """CPU time (user + system, all threads) of the scenario's test server (BENCH_SERVER_PID), in ms."""
    pid = os.environ.get("BENCH_SERVER_PID")
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().split(") ", 1)[1].split(" ")
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def measure(name, fn):
    """Runs fn() as one measured phase; fn returns a dict with bytes/items/outputBytes/extra."""
    gc.collect()
    _reset_peak()
    rss_start = current_rss()
    server_before = server_cpu_ms()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    outcome = fn() or {}
    ms = (time.perf_counter() - started) * 1000
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server_after = server_cpu_ms()
    cpu_ms = ((usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)) * 1000
    peak = max(peak_rss(), rss_start)
    return {
        "name": name,
        "ms": ms,
        "bytes": outcome.get("bytes"),
        "items": outcome.get("items"),
        "peakRss": peak,
        "rssStart": rss_start,
        "rssGrowth": max(0, peak - rss_start - outcome.get("outputBytes", 0)),
        "extra": {
            **(outcome.get("extra") or {}),
            "cpuMs": cpu_ms,
            **({"serverCpuMs": server_after - server_before} if server_before is not None and server_after is not None else {}),
        },
    }


# --------------------------------------------------------------------------------------------
# Data: the same pattern as bench/src/lib/data.ts


def _pattern_block():
    i = np.arange(1, BLOCK // 4 + 1, dtype=np.uint32)
    x = i * np.uint32(0x9E3779B1)
    x ^= x >> np.uint32(15)
    x = x * np.uint32(0x85EBCA77)
    x ^= x >> np.uint32(13)
    return x.view(np.uint8)


_block = None


def pattern_block():
    global _block
    if _block is None:
        _block = _pattern_block()
    return _block


def rotation(spec):
    return (spec["seed"] * 7919 * 64) % BLOCK


def tensor_array(spec):
    block = pattern_block()
    out = np.empty(spec["byteLength"], dtype=np.uint8)
    start = rotation(spec)
    filled = 0
    while filled < out.size:
        take = min(BLOCK - start, out.size - filled)
        out[filled : filled + take] = block[start : start + take]
        filled += take
        start = 0
    return out.view(ITEM_DTYPE[spec["dtype"]]).reshape(spec["shape"])


def build_tensors(specs):
    return {"state_dict." + s["key"]: tensor_array(s) for s in specs}


def verify_tensor(spec, data, who):
    raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if raw.size != spec["byteLength"]:
        raise RuntimeError(f"{who}: tensor {spec['key']} has {raw.size} bytes, expected {spec['byteLength']}")
    block = pattern_block()
    start = rotation(spec)
    samples = min(64, raw.size)
    for s in range(samples):
        position = raw.size - 1 if s == samples - 1 else (s * raw.size) // samples
        if raw[position] != block[(start + position) % BLOCK]:
            raise RuntimeError(f"{who}: tensor {spec['key']} byte {position} differs")


def verify_loaded(specs, tensors, who):
    for spec in specs:
        name = "state_dict." + spec["key"]
        if name not in tensors:
            raise RuntimeError(f"{who}: tensor {name} is missing")
        verify_tensor(spec, tensors[name], who)


def total_bytes(specs):
    return sum(s["byteLength"] for s in specs)


def small_payload(i, size):
    k = np.arange(size, dtype=np.int64)
    out = ((i * 31 + k * 7) & 0xFF).astype(np.uint8)
    tag = f"object-{i}:".encode()[:size]
    out[: len(tag)] = np.frombuffer(tag, dtype=np.uint8)
    return out.tobytes()


# --------------------------------------------------------------------------------------------
# Filesystems


def make_fs(store):
    kind = store["kind"]
    if kind == "s3":
        import s3fs

        return s3fs.S3FileSystem(
            key=store["accessKeyId"],
            secret=store["secretAccessKey"],
            endpoint_url=store["endpoint"],
            client_kwargs={"region_name": store["region"]},
            # Same connection budget as the Node contenders; botocore's default pool is 10.
            config_kwargs={"max_pool_connections": store.get("concurrency", 16)},
            # Parts of one multipart upload in flight (s3fs defaults to 1).
            max_concurrency=store.get("uploadConcurrency", 4),
            use_listings_cache=False,
            skip_instance_cache=True,
        )
    if kind == "gcs":
        import gcsfs

        return gcsfs.GCSFileSystem(
            endpoint_url=store["endpoint"],
            project=store["projectId"],
            token="anon",
            skip_instance_cache=True,
        )
    if kind == "azure":
        import adlfs

        return adlfs.AzureBlobFileSystem(
            connection_string=store["connectionString"],
            max_concurrency=store.get("uploadConcurrency", 4),
            skip_instance_cache=True,
        )
    raise ValueError(f"unknown store kind {kind}")


# --------------------------------------------------------------------------------------------
# Tasks


def task_save_safetensors_fsspec(params):
    """Scenario 1: safetensors.numpy.save inside an fsspec local transaction, fsynced before commit."""
    import fsspec
    from safetensors.numpy import save

    specs = params["specs"]
    target = params["path"]
    tensors = build_tensors(specs)
    fs = fsspec.filesystem("file")
    fs.makedirs(os.path.dirname(target), exist_ok=True)

    def run():
        with fs.transaction:
            with fs.open(target, "wb") as f:
                f.write(save(tensors))
                f.flush()
                os.fsync(f.fileno())
        return {"bytes": total_bytes(specs)}

    phase = measure("save", run)
    if os.path.getsize(target) < total_bytes(specs):
        raise RuntimeError("python: file is too small")
    return {"phases": [phase]}


def task_load_safetensors(params):
    """Scenario 2: safetensors.numpy.load_file of the Strata checkpoint."""
    from safetensors.numpy import load_file

    specs = params["specs"]
    loaded = {}

    def run():
        loaded.update(load_file(params["path"]))
        return {"bytes": total_bytes(specs), "outputBytes": total_bytes(specs)}

    phase = measure("load", run)
    verify_loaded(specs, loaded, "safetensors.load_file")
    return {"phases": [phase]}


def task_store_save_pipe(params):
    """Scenarios 3/8: safetensors bytes of the checkpoint, then fs.pipe (s3fs, gcsfs, adlfs)."""
    from safetensors.numpy import save

    specs = params["specs"]
    fs = make_fs(params["store"])
    tensors = build_tensors(specs)
    url = params["url"]

    # The same part size as every other contender; adlfs has no such knob (it uses the SDK's blocks).
    kwargs = {"chunksize": params["partSize"]} if params["store"]["kind"] in ("s3", "gcs") else {}

    def run():
        fs.pipe(url, save(tensors), **kwargs)
        return {"bytes": total_bytes(specs)}

    phase = measure("save", run)
    if fs.info(url)["size"] < total_bytes(specs):
        raise RuntimeError("python: object is too small")
    return {"phases": [phase]}


def task_store_load_cat(params):
    """Scenarios 3/8: fs.cat of the whole checkpoint, then safetensors.numpy.load."""
    import safetensors.numpy
    from safetensors.numpy import load

    # safetensors 0.8's numpy.load (from bytes) has no BF16 entry although load_file reads BF16
    # through ml_dtypes; give it the same dtype.
    safetensors.numpy._TYPES.setdefault("BF16", ml_dtypes.bfloat16)

    specs = params["specs"]
    fs = make_fs(params["store"])
    loaded = {}

    def run():
        loaded.update(load(fs.cat(params["url"])))
        return {"bytes": total_bytes(specs), "outputBytes": total_bytes(specs)}

    phase = measure("load", run)
    verify_loaded(specs, loaded, "fsspec cat")
    return {"phases": [phase]}


def task_small_objects(params):
    """Scenarios 5/8: batched async pipe of a dict, a listing, then a batched cat of a list."""
    fs = make_fs(params["store"])
    count, size, concurrency = params["count"], params["size"], params["concurrency"]
    prefix = f"{params['bucket']}/{params['prefix']}/py-{uuid.uuid4().hex[:8]}"
    payloads = {f"{prefix}/obj-{i:05d}.bin": small_payload(i, size) for i in range(count)}
    names = list(payloads)
    phases = []
    try:
        phases.append(measure("write", lambda: (fs.pipe(payloads, batch_size=concurrency), {"bytes": count * size, "items": count})[1]))
        listed = []

        def list_all():
            fs.invalidate_cache()
            listed.extend(fs.find(prefix))
            return {"items": len(listed)}

        phases.append(measure("list", list_all))
        if len(listed) != count:
            raise RuntimeError(f"python: listed {len(listed)} objects, expected {count}")
        got = {}

        def read_all():
            got.update(fs.cat(names, batch_size=concurrency))
            return {"bytes": count * size, "items": count}

        phases.append(measure("read", read_all))
        for i, name in enumerate(names):
            data = got.get(name) or got.get(fs._strip_protocol(name))
            if data != payloads[name]:
                raise RuntimeError(f"python: object {i} came back wrong")
    finally:
        try:
            fs.rm(prefix, recursive=True)
        except FileNotFoundError:
            pass
    return {"phases": phases}


TASKS = {
    "save-safetensors-fsspec": task_save_safetensors_fsspec,
    "load-safetensors": task_load_safetensors,
    "store-save-pipe": task_store_save_pipe,
    "store-load-cat": task_store_load_cat,
    "small-objects": task_small_objects,
}


def main():
    request = json.loads(os.environ["BENCH_TASK"])
    task = TASKS.get(request["task"])
    if task is None:
        raise SystemExit(f"unknown python task {request['task']}")
    output = task(request["params"])
    sys.stdout.write(RESULT_PREFIX + json.dumps(output) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
