import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { AlreadyExistsError, filesystem, type FileSystem, type RangeOptions } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CorruptCheckpointError,
  UnstorableValueError,
  deserializeCheckpoint,
  loadCheckpoint,
  readCheckpointInfo,
  saveCheckpoint,
  serializeCheckpoint,
  serializeSafetensors,
  tensor,
  type Tensor,
} from '../src/index.js';
import { instrumentedFs, privateMemoryFs, pseudoRandomBytes, richCheckpoint, tempDir, watchedWrites } from './helpers.js';

describe('round trip in memory', () => {
  it('restores every supported value exactly', () => {
    const original = richCheckpoint();
    const loaded = deserializeCheckpoint(serializeCheckpoint(original));
    expect(loaded).toStrictEqual(original);
  });

  it('names tensors by escaped key path', () => {
    const bytes = serializeCheckpoint(richCheckpoint());
    const names = Object.keys(JSON.parse(Buffer.from(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))).toString()));
    expect(names).toContain('state_dict.encoder~1weight');
    expect(names).toContain('optimizer_states.0.exp_avg.1');
    expect(names).toContain('dotted~1key.a~0b~1c');
    expect(names).toContain('map.t');
    expect(names).toContain('typed.nested.0.0');
  });

  it('keeps one tensor for an object referenced twice, and both references load as one object', () => {
    const shared = tensor('F32', [1], [1]);
    const loaded = deserializeCheckpoint(serializeCheckpoint({ a: shared, b: [shared] })) as { a: Tensor; b: Tensor[] };
    expect(loaded.b[0]).toBe(loaded.a);
    const info = readCheckpointInfoFromBytesCount(serializeCheckpoint({ a: shared, b: [shared] }));
    expect(info).toBe(1);
  });

  it('returns aligned typed arrays of the natural type', () => {
    const loaded = deserializeCheckpoint(serializeCheckpoint(richCheckpoint())) as ReturnType<typeof richCheckpoint>;
    const sd = loaded.state_dict;
    expect(sd['encoder.weight'].data).toBeInstanceOf(Float32Array);
    expect(sd['embed.half'].data).toBeInstanceOf(Uint16Array);
    expect(sd.counts.data).toBeInstanceOf(BigInt64Array);
    expect(sd.mask.data).toBeInstanceOf(Uint8Array);
    for (const t of Object.values(sd)) {
      const bytesPer = (t.data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      expect(t.data.byteOffset % bytesPer).toBe(0);
    }
  });

  it('copies tensors whose offset in the read buffer is not aligned', () => {
    const file = serializeCheckpoint({ w: tensor('F64', [2], [1.25, -2.5]) });
    const shifted = new Uint8Array(file.length + 1).subarray(1);
    shifted.set(file);
    const loaded = deserializeCheckpoint(shifted) as { w: Tensor };
    expect(loaded.w.data).toBeInstanceOf(Float64Array);
    expect(loaded.w.data.byteOffset % 8).toBe(0);
    expect([...(loaded.w.data as Float64Array)]).toEqual([1.25, -2.5]);
  });

  it('handles several empty tensors sharing one offset (found by the fuzz test)', () => {
    const ckpt = { '0': tensor('U16', [0]), '.': new Float64Array(0), b: tensor('BOOL', [2, 0]), z: tensor('I64', [1], [3n]) };
    expect(deserializeCheckpoint(serializeCheckpoint(ckpt))).toStrictEqual(ckpt);
  });

  it('keeps names unique when a root key is empty (found by the fuzz test)', () => {
    const ckpt = { '': { '~': new Int16Array([1]) }, '~': new Float64Array([2]) };
    expect(deserializeCheckpoint(serializeCheckpoint(ckpt))).toStrictEqual(ckpt);
  });

  it('keeps keys named like Object.prototype members as own data', () => {
    const loaded = deserializeCheckpoint(serializeCheckpoint({ constructor: tensor('U8', [1], [1]), prototype: 2, toString: 'x', hasOwnProperty: [1] }));
    expect(Object.keys(loaded)).toEqual(['constructor', 'prototype', 'toString', 'hasOwnProperty']);
    expect(loaded.constructor).toEqual(tensor('U8', [1], [1]));
    expect(loaded.toString).toBe('x');
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
  });

  it('loads a plain safetensors file as a flat tensor map', () => {
    const bytes = serializeSafetensors({ 'a.b': tensor('F32', [1], [1]), c: tensor('I64', [2], [3n, 4n]) }, { format: 'pt' });
    const loaded = deserializeCheckpoint(bytes);
    expect(loaded).toStrictEqual({ 'a.b': tensor('F32', [1], [1]), c: tensor('I64', [2], [3n, 4n]) });
  });
});

function readCheckpointInfoFromBytesCount(bytes: Uint8Array): number {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString()) as Record<string, unknown>;
  return Object.keys(header).filter((k) => k !== '__metadata__').length;
}

describe('unstorable values', () => {
  const cases: [string, object, string][] = [
    ['a function', { model: { forward: () => 1 } }, 'model.forward'],
    ['a symbol', { a: [1, Symbol('s')] }, 'a.1'],
    ['a class instance', { opt: { sched: new (class Scheduler { x = 1 })() } }, 'opt.sched'],
    ['a RegExp', { r: /x/ }, 'r'],
    ['a circular reference', (() => { const o: Record<string, unknown> = { a: {} }; (o.a as Record<string, unknown>).self = o; return o; })(), 'a.self'],
    ['an invalid tensor', { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, 'w'],
    ['a tensor as a Map key', { m: new Map([[tensor('U8', [1]), 1]]) }, 'm.~k0'],
    ['a BOOL tensor holding 2', { m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }, 'm'],
    ['a dotted key holding a function', { 'a.b': { c: () => 0 } }, 'a~1b.c'],
    // safetensors reserves the name: the file would hold two "__metadata__" entries.
    ['a typed array at the root key __metadata__', { step: 2, __metadata__: new Float32Array([1, 2]) }, '__metadata__'],
    ['a tensor at the root key __metadata__', { __metadata__: tensor('U8', [1]) }, '__metadata__'],
    ['a tensor with extra fields, which would be lost', { opt: { w: { dtype: 'F32', shape: [1], data: new Float32Array(1), requiresGrad: true } } }, 'opt.w'],
    ['a BigInt of more than 10 000 digits', { rng: { state: 10n ** 10_000n } }, 'rng.state'],
    ['a negative BigInt of more than 10 000 digits', { rng: [-(10n ** 10_000n)] }, 'rng.0'],
  ];
  it.each(cases)('fails on %s naming the key path, before writing anything', async (_, value, keyPath) => {
    const fs = await privateMemoryFs();
    const { fs: watched, stats } = instrumentedFs(fs);
    await saveCheckpoint({ ok: 1 }, '/ckpt.safetensors', { fs });
    const before = await fs.cat('/ckpt.safetensors');
    const error = await saveCheckpoint(value, '/ckpt.safetensors', { fs: watched }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnstorableValueError);
    expect((error as UnstorableValueError).keyPath).toBe(keyPath);
    expect((error as Error).message).toContain(keyPath);
    expect(stats.maxConcurrentWrites.size).toBe(0);
    expect(await fs.cat('/ckpt.safetensors')).toEqual(before);
  });

  it('stores an object with a toJSON method as its plain form', () => {
    const loaded = deserializeCheckpoint(serializeCheckpoint({ u: new URL('https://example.invalid/x') }));
    expect(loaded).toEqual({ u: 'https://example.invalid/x' });
  });

  it('refuses a non-object checkpoint', () => {
    expect(() => serializeCheckpoint([1, 2])).toThrow(UnstorableValueError);
  });

  it('stores a root key __metadata__ that is not a tensor, and BigInts up to 10 000 digits', () => {
    const value = { __metadata__: { note: 'x', w: tensor('U8', [1], [1]) }, big: 10n ** 10_000n - 1n, small: -(10n ** 10_000n - 1n) };
    expect(deserializeCheckpoint(serializeCheckpoint(value))).toStrictEqual(value);
  });

  it('refuses, before writing, a tree with more objects and arrays than a load accepts for its size', async () => {
    const fs = await privateMemoryFs();
    await saveCheckpoint({ ok: 1 }, '/ckpt.safetensors', { fs });
    const dense = { a: Array.from({ length: 300_000 }, () => []) };
    const error = await saveCheckpoint(dense, '/ckpt.safetensors', { fs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnstorableValueError);
    expect((error as Error).message).toMatch(/objects and arrays/);
    expect(await loadCheckpoint('/ckpt.safetensors', { fs })).toEqual({ ok: 1 });
    // Dense but ordinary trees are fine: the limit is one object or array per 8 bytes of the tree's JSON.
    const pairs = { history: Array.from({ length: 200_000 }, (_, i) => [i, i / 7]) };
    expect(deserializeCheckpoint(serializeCheckpoint(pairs))).toEqual(pairs);
  });
});

async function checkBackend(fs: FileSystem, base: string) {
  const url = `${base}/run/ckpt.safetensors`;
  const original = richCheckpoint();
  const progress: [number, number][] = [];
  await saveCheckpoint(original, url, { fs, onProgress: (done, total) => progress.push([done, total]) });
  const total = (await fs.info(url)).size;
  expect(progress.length).toBeGreaterThan(0);
  expect(progress.at(-1)).toEqual([total, total]);
  expect(progress.every(([d], i) => i === 0 || d > progress[i - 1]![0])).toBe(true);
  expect(await loadCheckpoint(url, { fs })).toStrictEqual(original);

  const info = await readCheckpointInfo(url, { fs });
  expect(info.format).toBe('strata-checkpoint');
  expect(info.version).toBe(1);
  expect(info.fileByteLength).toBe(total);
  expect(info.tensors.find((t) => t.name === 'state_dict.encoder~1weight')).toMatchObject({ dtype: 'F32', shape: [2, 3], byteLength: 24 });
  expect(Object.keys(info.metadata).sort()).toEqual(['digest', 'format', 'strata', 'version']);

  const second = { ...original, epoch: 4 };
  await saveCheckpoint(second, url, { fs });
  expect((await loadCheckpoint(url, { fs })).epoch).toBe(4);
  const refused = await saveCheckpoint(original, url, { fs, mode: 'create' }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(AlreadyExistsError);
  expect((await loadCheckpoint(url, { fs })).epoch).toBe(4);
  // A save that fails after half its bytes leaves the committed checkpoint as it was.
  const failing = saveCheckpoint({ epoch: 5, big: tensor('U8', [8 << 20]) }, url, {
    fs,
    onProgress: (done, totalBytes) => {
      if (done > totalBytes / 2) throw new Error('power cut');
    },
  });
  await expect(failing).rejects.toThrow('power cut');
  expect((await loadCheckpoint(url, { fs })).epoch).toBe(4);
  const aborted = new AbortController();
  aborted.abort();
  await expect(saveCheckpoint(original, url, { fs, signal: aborted.signal })).rejects.toMatchObject({ code: 'EABORT' });
  expect((await loadCheckpoint(url, { fs })).epoch).toBe(4);
  await saveCheckpoint(original, `${base}/run/other.safetensors`, { fs, mode: 'create' });
  expect(await loadCheckpoint(`${base}/run/other.safetensors`, { fs })).toStrictEqual(original);
}

describe('round trip through storage', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('memory (explicit fs)', async () => {
    await checkBackend(await privateMemoryFs(), '/m');
  });

  it('file (explicit fs)', async () => {
    await checkBackend(await filesystem('file'), tmp.dir);
    // Nothing but the two checkpoints is left behind (no temp files).
    expect((await readdir(join(tmp.dir, 'run'))).sort()).toEqual(['ckpt.safetensors', 'other.safetensors']);
  });

  it('resolves URLs through the registry: file paths, file:// and memory://', async () => {
    const original = richCheckpoint();
    const path = join(tmp.dir, 'via-url', 'a.safetensors');
    await saveCheckpoint(original, path);
    expect(await loadCheckpoint(`file://${path}`)).toStrictEqual(original);
    expect(deserializeCheckpoint(new Uint8Array(await readFile(path)))).toStrictEqual(original);
    const memUrl = `memory://checkpoint-test-${process.pid}/b.safetensors`;
    await saveCheckpoint(original, memUrl);
    expect(await loadCheckpoint(memUrl)).toStrictEqual(original);
  });

  it('streams: a large checkpoint goes out in bounded chunks, not one copy', async () => {
    const fs = await privateMemoryFs();
    const big = tensor('U8', [24 << 20], pseudoRandomBytes(24 << 20, 7));
    const writes: number[] = [];
    const spy = watchedWrites(fs, (chunk) => writes.push(chunk.length));
    await saveCheckpoint({ big, small: tensor('F32', [3], [1, 2, 3]) }, '/big.safetensors', { fs: spy });
    expect(Math.max(...writes)).toBeLessThanOrEqual(4 << 20);
    expect(writes.reduce((a, b) => a + b, 0)).toBe((await fs.info('/big.safetensors')).size);
    const loaded = (await loadCheckpoint('/big.safetensors', { fs })) as { big: Tensor };
    expect(Buffer.compare(loaded.big.data as Uint8Array, big.data as Uint8Array)).toBe(0);
  });
});

describe('tensors changed during a plain save', () => {
  /** A filesystem whose write handles cannot patch and flip data[0] on their first write (the header). */
  function mutatingFs(fs: FileSystem, data: Uint8Array): FileSystem {
    let writes = 0;
    return watchedWrites(fs, () => {
      if (writes++ === 0) data[0]! ^= 0xff;
    }, { hidePatch: true });
  }

  it('without patch(): hashed before writing, so the save commits and the file fails to load as corrupt', async () => {
    const fs = await privateMemoryFs();
    const data = pseudoRandomBytes(1 << 20, 3);
    await saveCheckpoint({ w: tensor('U8', [data.length], data) }, '/m.safetensors', { fs: mutatingFs(fs, data) });
    const error = await loadCheckpoint('/m.safetensors', { fs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCheckpointError);
    expect((error as CorruptCheckpointError).reason).toBe('digest-mismatch');
  });

  it('with and without patch(): the same bytes as serializeCheckpoint', async () => {
    const fs = await privateMemoryFs();
    const ckpt = richCheckpoint();
    const data = new Uint8Array(8);
    await saveCheckpoint(ckpt, '/patched.safetensors', { fs });
    // mutatingFs only flips a byte nobody else reads.
    await saveCheckpoint(ckpt, '/hashed-first.safetensors', { fs: mutatingFs(fs, data) });
    const reference = serializeCheckpoint(ckpt);
    expect(Buffer.compare(await fs.cat('/patched.safetensors'), reference)).toBe(0);
    expect(Buffer.compare(await fs.cat('/hashed-first.safetensors'), reference)).toBe(0);
  });
});

describe('verification of large ranges', () => {
  const mib = 1 << 20;
  // Three adjacent 3 MiB tensors form one 9 MiB range, large enough for the hash worker.
  const large = () => ({ a: tensor('U8', [3 * mib], pseudoRandomBytes(3 * mib, 1)), b: tensor('U8', [3 * mib], pseudoRandomBytes(3 * mib, 2)), c: tensor('U8', [3 * mib], pseudoRandomBytes(3 * mib, 3)) });

  it('loads every tensor of a large range intact', async () => {
    const fs = await privateMemoryFs();
    const ckpt = large();
    await saveCheckpoint(ckpt, '/l.safetensors', { fs });
    const loaded = (await loadCheckpoint('/l.safetensors', { fs })) as Record<'a' | 'b' | 'c', Tensor>;
    for (const k of ['a', 'b', 'c'] as const) expect(Buffer.compare(loaded[k].data as Uint8Array, ckpt[k].data as Uint8Array)).toBe(0);
  });

  it('names the tampered tensor inside a large range', async () => {
    const fs = await privateMemoryFs();
    await saveCheckpoint(large(), '/l.safetensors', { fs });
    const info = await readCheckpointInfo('/l.safetensors', { fs });
    const b = info.tensors.find((t) => t.name === 'b')!;
    const bytes = await fs.cat('/l.safetensors');
    bytes[8 + info.headerByteLength + b.dataOffsets[0] + 12345]! ^= 1;
    await fs.pipe('/l.safetensors', bytes);
    const error = await loadCheckpoint('/l.safetensors', { fs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCheckpointError);
    expect((error as CorruptCheckpointError).reason).toBe('digest-mismatch');
    expect((error as CorruptCheckpointError).message).toContain('"b"');
  });
});

describe('partial loads', () => {
  it('reads only the selected tensors, coalescing adjacent ranges', async () => {
    const fs = await privateMemoryFs();
    const mib = 1 << 20;
    const ckpt = {
      step: 1,
      layers: [0, 1, 2, 3, 4, 5].map((i) => ({ w: tensor('U8', [mib], pseudoRandomBytes(mib, i + 1)) })),
    };
    await saveCheckpoint(ckpt, '/p.safetensors', { fs });
    const info = await readCheckpointInfo('/p.safetensors', { fs });
    const wanted = new Set(['layers.1.w', 'layers.2.w', 'layers.4.w']);
    const { fs: counted, stats } = instrumentedFs(fs);
    const loaded = (await loadCheckpoint('/p.safetensors', { fs: counted, keys: (name) => wanted.has(name) })) as typeof ckpt;

    const headerRead = Math.min(64 << 10, info.fileByteLength);
    expect(stats.bytesRead).toBe(headerRead + 3 * mib);
    // Header probe, then layers 1+2 as one range and layer 4 as another.
    expect(stats.ranges.length).toBe(3);
    expect(stats.calls.cat).toBe(3);
    expect(loaded.step).toBe(1);
    expect(loaded.layers.map((l) => Object.keys(l))).toEqual([[], ['w'], ['w'], [], ['w'], []]);
    expect(Buffer.compare(loaded.layers[4]!.w.data as Uint8Array, ckpt.layers[4]!.w.data as Uint8Array)).toBe(0);
  });

  it("reads no more ranges at once than the filesystem's concurrency", async () => {
    const fs = await filesystem('memory', { store: 'private', concurrency: 2 });
    expect(fs.concurrency).toBe(2);
    const kib = 1 << 10;
    const ckpt = { layers: Array.from({ length: 12 }, (_, i) => ({ w: tensor('U8', [128 * kib], pseudoRandomBytes(128 * kib, i + 1)) })) };
    await saveCheckpoint(ckpt, '/c.safetensors', { fs });
    let inFlight = 0;
    let most = 0;
    const slow = Object.create(fs, {
      cat: {
        value: async (path: string, options?: RangeOptions) => {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 5));
          try {
            return await fs.cat(path, options);
          } finally {
            inFlight--;
          }
        },
      },
    }) as FileSystem;
    // Every other layer: six ranges that cannot be coalesced.
    const loaded = (await loadCheckpoint('/c.safetensors', { fs: slow, keys: (name) => Number(name.split('.')[1]) % 2 === 0 })) as typeof ckpt;
    expect(most).toBe(2);
    expect(Buffer.compare(loaded.layers[10]!.w.data as Uint8Array, ckpt.layers[10]!.w.data as Uint8Array)).toBe(0);
  });

  it('reads a small checkpoint with one request', async () => {
    const fs = await privateMemoryFs();
    await saveCheckpoint({ w: tensor('F32', [16]) }, '/small.safetensors', { fs });
    const { fs: counted, stats } = instrumentedFs(fs);
    await loadCheckpoint('/small.safetensors', { fs: counted });
    expect(stats.ranges.length).toBe(1);
  });

  it('reads the header in two requests when it is larger than the probe', async () => {
    const fs = await privateMemoryFs();
    const many = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`param_${i}`, tensor('F32', [1], [i])]));
    await saveCheckpoint({ many }, '/wide.safetensors', { fs });
    const { fs: counted, stats } = instrumentedFs(fs);
    const info = await readCheckpointInfo('/wide.safetensors', { fs: counted });
    expect(info.headerByteLength).toBeGreaterThan(64 << 10);
    expect(stats.ranges.length).toBe(2);
    expect(stats.bytesRead).toBe(8 + info.headerByteLength);
    const loaded = (await loadCheckpoint('/wide.safetensors', { fs })) as { many: Record<string, Tensor> };
    expect((loaded.many.param_1499!.data as Float32Array)[0]).toBe(1499);
  });

  it('verifies the digest of what it loads and leaves the rest unread', async () => {
    const fs = await privateMemoryFs();
    await saveCheckpoint({ a: tensor('U8', [4], [1, 2, 3, 4]), b: tensor('U8', [4], [5, 6, 7, 8]) }, '/d.safetensors', { fs });
    const bytes = await fs.cat('/d.safetensors');
    bytes[bytes.length - 1]! ^= 1; // last byte belongs to b
    await fs.pipe('/d.safetensors', bytes);
    const error = await loadCheckpoint('/d.safetensors', { fs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCheckpointError);
    expect((error as CorruptCheckpointError).reason).toBe('digest-mismatch');
    expect((error as CorruptCheckpointError).message).toContain('memory:///d.safetensors');
    const onlyA = (await loadCheckpoint('/d.safetensors', { fs, keys: (n) => n === 'a' })) as { a: Tensor };
    expect([...(onlyA.a.data as Uint8Array)]).toEqual([1, 2, 3, 4]);
  });
});

describe('header layout', () => {
  it('pads the header with spaces to a multiple of 8 and starts it with {', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'x.safetensors');
      await saveCheckpoint({ a: tensor('F32', [1], [1]), b: tensor('U8', [3], [1, 2, 3]) }, path);
      const bytes = await readFile(path);
      const n = Number(bytes.readBigUInt64LE(0));
      expect(n % 8).toBe(0);
      expect(bytes[8]).toBe(0x7b);
      const header = bytes.subarray(8, 8 + n).toString('utf8');
      expect(header.trimEnd().endsWith('}')).toBe(true);
      expect(/^ *$/.test(header.slice(header.trimEnd().length))).toBe(true);
      expect((await stat(path)).size).toBe(8 + n + 4 + 3);
    } finally {
      await cleanup();
    }
  });
});
