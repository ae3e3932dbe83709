import { createHash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { FileSystem } from '@strata/fs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  CorruptCheckpointError,
  deserializeCheckpoint,
  loadCheckpoint,
  readCheckpointInfo,
  readCheckpointInfoFromBytes,
  serializeCheckpoint,
  tensor,
  type CorruptReason,
  type Tensor,
} from '../src/index.js';
import { describeContainerLimits } from '../src/json.js';
import { headerLimits } from '../src/safetensors.js';
import { strataLimits } from '../src/strata.js';
import { ensureBuilt } from './crash/build.js';
import { instrumentedFs, privateMemoryFs } from './helpers.js';

const encoder = new TextEncoder();

/** A file with exactly this header text (padded with spaces to 8) followed by `data`. */
function fileWith(header: string, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = encoder.encode(header);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(padded), true);
  out.set(json, 8);
  out.set(data, 8 + padded);
  return out;
}

function reasonOf(fn: () => unknown): CorruptReason {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptCheckpointError);
    return (error as CorruptCheckpointError).reason;
  }
  throw new Error('expected CorruptCheckpointError, nothing was thrown');
}

const load = (bytes: Uint8Array) => () => deserializeCheckpoint(bytes);
const t = (dtype: string, shape: number[], begin: number, end: number) => JSON.stringify({ dtype, shape, data_offsets: [begin, end] });

function validCheckpoint(): Uint8Array {
  return serializeCheckpoint({
    step: 5,
    w: tensor('F32', [2, 2], [1, 2, 3, 4]),
    b: tensor('I64', [2], [1n, 2n]),
    m: tensor('BOOL', [3], [1, 0, 1]),
  });
}

describe('corrupt files raise CorruptCheckpointError', () => {
  it('truncation at every byte', () => {
    const bytes = validCheckpoint();
    for (let cut = 0; cut < bytes.length; cut++) {
      const reason = reasonOf(load(bytes.subarray(0, cut)));
      expect(['truncated', 'out-of-bounds']).toContain(reason);
    }
    expect(deserializeCheckpoint(bytes)).toHaveProperty('step', 5);
  });

  it('an empty file and a file shorter than the length prefix', () => {
    expect(reasonOf(load(new Uint8Array(0)))).toBe('truncated');
    expect(reasonOf(load(new Uint8Array(7)))).toBe('truncated');
  });

  it('a header length larger than the file', () => {
    expect(reasonOf(load(fileWith('{}', new Uint8Array(0), 4096n)))).toBe('truncated');
  });

  it('a header length larger than 100 MB, even when absurd', () => {
    expect(reasonOf(load(fileWith('{}', new Uint8Array(0), 100_000_001n)))).toBe('header-too-large');
    expect(reasonOf(load(fileWith('{}', new Uint8Array(0), 2n ** 64n - 1n)))).toBe('header-too-large');
  });

  it('header JSON that is not an object', () => {
    for (const header of ['[]', '"x"', '1', 'null', 'true']) expect(reasonOf(load(fileWith(header)))).toBe('header-not-object');
  });

  it('header that is not JSON, or not UTF-8', () => {
    for (const header of ['{', '{"a":}', "{'a':1}", '{"a":1,}', '{} x', '', '{"a":01}', '{"a":"\u0001"}']) {
      expect(reasonOf(load(fileWith(header)))).toBe('header-json');
    }
    const bad = fileWith('{"a":"xx"}');
    bad[14] = 0xff;
    expect(reasonOf(load(bad))).toBe('header-encoding');
  });

  it('hostile nesting does not overflow the stack', () => {
    expect(reasonOf(load(fileWith(`{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}`)))).toBe('header-json');
  });

  it('overlapping offsets', () => {
    const header = `{"a":${t('U8', [4], 0, 4)},"b":${t('U8', [4], 2, 6)}}`;
    expect(reasonOf(load(fileWith(header, new Uint8Array(6))))).toBe('overlapping-offsets');
    const same = `{"a":${t('U8', [4], 0, 4)},"b":${t('U8', [4], 0, 4)}}`;
    expect(reasonOf(load(fileWith(same, new Uint8Array(4))))).toBe('overlapping-offsets');
  });

  it('gapped offsets, including a first tensor not at 0', () => {
    expect(reasonOf(load(fileWith(`{"a":${t('U8', [4], 0, 4)},"b":${t('U8', [2], 6, 8)}}`, new Uint8Array(8))))).toBe('gapped-offsets');
    expect(reasonOf(load(fileWith(`{"a":${t('U8', [4], 2, 6)}}`, new Uint8Array(6))))).toBe('gapped-offsets');
  });

  it('out-of-bounds offsets and trailing bytes', () => {
    expect(reasonOf(load(fileWith(`{"a":${t('U8', [4], 0, 4)}}`, new Uint8Array(3))))).toBe('out-of-bounds');
    expect(reasonOf(load(fileWith(`{"a":${t('U8', [4], 0, 4)}}`, new Uint8Array(5))))).toBe('trailing-data');
    expect(reasonOf(load(fileWith(`{"a":${t('U8', [4], 4, 0)}}`, new Uint8Array(4))))).toBe('invalid-tensor-info');
  });

  it('an offset size that does not match dtype × shape, without allocating for a huge shape', () => {
    expect(reasonOf(load(fileWith(`{"a":${t('F32', [2], 0, 4)}}`, new Uint8Array(4))))).toBe('size-mismatch');
    expect(reasonOf(load(fileWith(`{"a":${t('F32', [2 ** 31, 2 ** 31], 0, 4)}}`, new Uint8Array(4))))).toBe('size-mismatch');
    // A product past 64 bits, which the reference reader refuses as an overflow.
    expect(reasonOf(load(fileWith(`{"a":${t('F32', [1e15, 1e15], 0, 4)}}`, new Uint8Array(4))))).toBe('invalid-tensor-info');
    // Zero elements, with no product past 64 bits on the way: valid, and nothing is allocated for it.
    const empty = deserializeCheckpoint(fileWith(`{"a":${t('F64', [2 ** 40, 0, 2 ** 40], 0, 0)},"b":${t('U8', [1], 0, 1)}}`, new Uint8Array(1)));
    expect((empty.a as { data: Float64Array }).data.length).toBe(0);
  });

  it('an unknown dtype', () => {
    // F8_E4M3 and the other dtypes the reference reader knows are not unknown (format.test.ts).
    for (const dtype of ['F8_E4M3X', 'C128', 'X', 'f32', 'f8_e4m3']) expect(reasonOf(load(fileWith(`{"a":${t(dtype, [1], 0, 1)}}`, new Uint8Array(1))))).toBe('unknown-dtype');
  });

  it('malformed tensor entries', () => {
    for (const entry of ['1', '[]', '{"shape":[1],"data_offsets":[0,1]}', '{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}', '{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}', '{"dtype":"U8","shape":[1],"data_offsets":[0]}', '{"dtype":"U8","shape":"1","data_offsets":[0,1]}']) {
      expect(reasonOf(load(fileWith(`{"a":${entry}}`, new Uint8Array(1))))).toBe('invalid-tensor-info');
    }
  });

  it('headers the reference reader (serde_json) refuses: counts written as 1.0, 4e0 or -0, lone surrogates, shapes past 64 bits', () => {
    const u8 = new Uint8Array(4);
    const refused = [
      `{"a":{"dtype":"U8","shape":[4.0],"data_offsets":[0,4]}}`,
      `{"a":{"dtype":"U8","shape":[4],"data_offsets":[0e0,4e0]}}`,
      `{"a":{"dtype":"U8","shape":[4],"data_offsets":[-0,4]}}`,
      `{"a":{"dtype":"U8","shape":[-0,4],"data_offsets":[0,0]},"b":${t('U8', [4], 0, 4)}}`,
      `{"a":{"dtype":"U8","shape":[67108864,67108864,67108864,0],"data_offsets":[0,0]},"b":${t('U8', [4], 0, 4)}}`,
      // 2^64 + 47: doubles round the product below 2^64.
      `{"a":{"dtype":"U8","shape":[3129,120314530127703,49,0],"data_offsets":[0,0]},"b":${t('U8', [4], 0, 4)}}`,
    ];
    for (const header of refused) expect(reasonOf(load(fileWith(header, u8))), header).toBe('invalid-tensor-info');
    expect(reasonOf(load(fileWith(`{"w\\ud800":${t('U8', [4], 0, 4)}}`, u8)))).toBe('header-json');
    expect(reasonOf(load(fileWith(`{"__metadata__":{"k":"\\udc00"},"w":${t('U8', [4], 0, 4)}}`, u8)))).toBe('header-json');
    // What it does accept: a surrogate pair written as escapes, and numbers in fields nobody reads.
    const ok = deserializeCheckpoint(fileWith(`{"w\\ud83d\\ude00":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"note":1.5e3}}`, u8));
    expect(Object.keys(ok)).toEqual(['w\u{1F600}']);
  });

  it('duplicate names, which JSON.parse would silently collapse', () => {
    const dup = `{"a":${t('U8', [1], 0, 1)},"a":${t('U8', [1], 1, 2)}}`;
    expect(Object.keys(JSON.parse(dup))).toEqual(['a']);
    expect(reasonOf(load(fileWith(dup, new Uint8Array(2))))).toBe('duplicate-name');
    expect(reasonOf(load(fileWith(`{"__metadata__":{"k":"1","k":"2"}}`)))).toBe('duplicate-name');
    expect(reasonOf(load(fileWith(`{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, new Uint8Array(1))))).toBe('duplicate-name');
  });

  it('a __proto__ key anywhere, without polluting prototypes', () => {
    const cases = [
      `{"__proto__":${t('U8', [1], 0, 1)}}`,
      `{"__metadata__":{"__proto__":"x"}}`,
      `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"__proto__":{"polluted":"yes"}}}`,
      `{"a":${t('U8', [1], 0, 1)},"\\u005f_proto__":{"polluted":"yes"}}`,
    ];
    for (const header of cases) expect(reasonOf(load(fileWith(header, new Uint8Array(1))))).toBe('forbidden-key');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('dtype');
  });

  it('metadata that is not a map of strings', () => {
    expect(reasonOf(load(fileWith(`{"__metadata__":{"a":1}}`)))).toBe('invalid-metadata');
    expect(reasonOf(load(fileWith(`{"__metadata__":[]}`)))).toBe('invalid-metadata');
    expect(reasonOf(load(fileWith(`{"__metadata__":"x"}`)))).toBe('invalid-metadata');
  });

  it('a digest mismatch in tensor data', () => {
    const bytes = validCheckpoint();
    bytes[bytes.length - 1]! ^= 0x01;
    expect(reasonOf(load(bytes))).toBe('digest-mismatch');
  });

  it('a digest mismatch in the Strata metadata', () => {
    const bytes = validCheckpoint();
    const text = Buffer.from(bytes).toString('latin1');
    const at = text.indexOf('\\"step\\":5');
    expect(at).toBeGreaterThan(0);
    bytes[at + 9] = '6'.charCodeAt(0);
    expect(reasonOf(load(bytes))).toBe('digest-mismatch');
  });

  it('a header tensor that disagrees with the digested manifest', () => {
    const bytes = validCheckpoint();
    const text = Buffer.from(bytes).toString('latin1');
    // Same size, different type: F32 → I32 for "w".
    const at = text.indexOf('"w":{"dtype":"F32"');
    bytes[at + 14] = 'I'.charCodeAt(0);
    expect(reasonOf(load(bytes))).toBe('manifest-mismatch');
    expect(load(bytes)).toThrow(/is I32\[\d+(,\d+)*\] in the header but F32\[\d+(,\d+)*\] in the manifest/);
  });

  it('a Strata file with a broken marker or a newer version', () => {
    const bytes = validCheckpoint();
    const text = Buffer.from(bytes).toString('latin1');
    // The marker is outside the digest; its digest and strata entries still give the file away.
    for (const [at, to] of [[text.indexOf('strata-checkpoint'), 'S'], [text.indexOf('"format"') + 1, 'F']] as const) {
      const marker = bytes.slice();
      marker[at] = to.charCodeAt(0);
      expect(reasonOf(load(marker))).toBe('invalid-metadata');
      expect(load(marker)).toThrow(/digest and strata entries are a Strata checkpoint's/);
    }
    const version = bytes.slice();
    version[text.indexOf('"version":"1"') + 11] = '2'.charCodeAt(0);
    expect(reasonOf(load(version))).toBe('unsupported-version');
  });

  it('a tree that refers to a tensor the file does not have', () => {
    // Built by hand with a correct digest, so only the tree is wrong.
    const strata = JSON.stringify({ tree: { w: { $tensor: 'nope' } }, tensors: [] });
    const md = { format: 'strata-checkpoint', version: '1', digest: `sha256:${createHash('sha256').update(strata).digest('hex')}`, strata };
    expect(reasonOf(load(fileWith(JSON.stringify({ __metadata__: md }))))).toBe('invalid-tree');
  });
});

type CraftedTensor = { name: string; dtype: string; shape: number[]; bytes: Uint8Array };

/** A Strata file with a correct digest and manifest, so only what the test puts in `tree` is hostile. */
function strataFile(tree: unknown, tensors: CraftedTensor[] = []): Uint8Array {
  return strataFileRaw(JSON.stringify(tree), tensors);
}

/** strataFile with the tree given as JSON text (for trees too large to build as objects here). */
function strataFileRaw(treeJson: string, tensors: CraftedTensor[] = []): Uint8Array {
  const sha = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
  const manifest = JSON.stringify(tensors.map(({ name, dtype, shape, bytes }) => ({ name, dtype, shape, sha256: sha(bytes) })));
  const strata = `{"tree":${treeJson},"tensors":${manifest}}`;
  const header: Record<string, unknown> = { __metadata__: { format: 'strata-checkpoint', version: '1', digest: `sha256:${sha(strata)}`, strata } };
  let offset = 0;
  for (const { name, dtype, shape, bytes } of tensors) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  return fileWith(JSON.stringify(header), Buffer.concat(tensors.map((x) => x.bytes)));
}

describe('hostile files within the size limits', () => {
  it('a header with far more objects and arrays than tensors need is refused before they are built', () => {
    const units = 200_000;
    const cases = [
      `{"__metadata__":[${'{},'.repeat(units)}{}]}`,
      `{"__metadata__":{"a":"b"},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"junk":[${'[],'.repeat(units)}[]]}}`,
    ];
    for (const header of cases) {
      const bytes = fileWith(header, new Uint8Array(1));
      expect(reasonOf(load(bytes))).toBe('header-json');
      expect(load(bytes)).toThrow(/more objects and arrays than/);
      expect(() => readCheckpointInfoFromBytes(bytes)).toThrow(/more objects and arrays than/);
    }
  });

  it('a Strata tree with far more objects and arrays than its size allows is refused', () => {
    const dense = strataFile({ x: Array.from({ length: 300_000 }, () => []) });
    expect(reasonOf(load(dense))).toBe('invalid-metadata');
    expect(load(dense)).toThrow(/more objects and arrays than/);
  });

  it('both refusals quote their limits in the same words: "N objects and arrays, M of them objects"', () => {
    expect(describeContainerLimits({ maxContainers: 7, maxObjects: 3 })).toBe('7 objects and arrays, 3 of them objects');
    const header = `{"__metadata__":[${'{},'.repeat(200_000)}{}]}`;
    const padded = Math.ceil(encoder.encode(header).length / 8) * 8;
    expect(load(fileWith(header, new Uint8Array(1)))).toThrow(`(at most ${describeContainerLimits(headerLimits(padded))})`);
    const treeJson = `{"x":[${'[],'.repeat(299_999)}[]]}`;
    const strataLength = `{"tree":${treeJson},"tensors":[]}`.length;
    expect(load(strataFileRaw(treeJson))).toThrow(`(at most ${describeContainerLimits(strataLimits(strataLength))})`);
  });

  it('a tree root that is not a plain object', () => {
    const w = { name: 'w', dtype: 'F32', shape: [2], bytes: new Uint8Array(new Float32Array([1, 2]).buffer) };
    const u = { name: 'u', dtype: 'U8', shape: [2], bytes: new Uint8Array([1, 2]) };
    const roots: [unknown, CraftedTensor[]][] = [
      [{ $array: { type: 'Float32Array', tensor: 'w' } }, [w]],
      [{ $array: { type: 'ArrayBuffer', tensor: 'u' } }, [u]],
      [{ $tensor: 'w' }, [w]],
      [{ $map: [] }, []],
      [{ $date: null }, []],
      [{ $bigint: '1' }, []],
      [[1], []],
      ['x', []],
      [null, []],
    ];
    for (const [tree, tensors] of roots) {
      const bytes = strataFile(tree, tensors);
      expect(reasonOf(load(bytes)), JSON.stringify(tree)).toBe('invalid-tree');
      expect(load(bytes)).toThrow(/root/);
    }
    // A root whose keys start with "$" is written wrapped in $object, and loads.
    expect(deserializeCheckpoint(strataFile({ $object: { $a: 1 } }))).toEqual({ $a: 1 });
    expect(deserializeCheckpoint(serializeCheckpoint({ $a: 1, b: tensor('U8', [1], [2]) }))).toEqual({ $a: 1, b: tensor('U8', [1], [2]) });
  });

  it('a $bigint of more than 10 000 digits is refused without parsing it', () => {
    const longest = `-${'9'.repeat(10_000)}`;
    expect(deserializeCheckpoint(strataFile({ x: { $bigint: longest } }))).toEqual({ x: BigInt(longest) });
    const started = Date.now();
    for (const payload of ['1'.repeat(10_001), `-${'9'.repeat(10_001)}`, '7'.repeat(20_000_000)]) {
      const bytes = strataFile({ x: { $bigint: payload } });
      expect(reasonOf(load(bytes))).toBe('invalid-tree');
      expect(load(bytes)).toThrow(/10000 digits/);
    }
    // BigInt() of 20 million digits alone takes seconds.
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('hostile headers near the 100 MB limit', () => {
  /**
   * Parses `bytes` in a worker whose heap is capped at `heapMb`, with the built package: a parser
   * that builds tens of millions of objects runs out of memory (ERR_WORKER_OUT_OF_MEMORY).
   */
  async function loadInSmallHeap(bytes: Uint8Array, heapMb: number): Promise<string> {
    const dist = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.dist).then(({ deserializeCheckpoint }) => {
        try {
          deserializeCheckpoint(workerData.bytes);
          parentPort.postMessage('loaded');
        } catch (error) {
          parentPort.postMessage(error.name + ' ' + (error.reason ?? error.message));
        }
      });`;
    const worker = new Worker(source, { eval: true, workerData: { dist, bytes }, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
    try {
      return await new Promise<string>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', (error) => resolve(`${(error as { code?: string }).code ?? error.name}`));
        worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
      });
    } finally {
      await worker.terminate();
    }
  }

  beforeAll(async () => {
    await ensureBuilt();
  }, 180_000);

  it('60 MB of empty objects in the header fail as corrupt within a 512 MB heap', async () => {
    const bytes = fileWith(`{"__metadata__":[${'{},'.repeat(20_000_000)}{}]}`);
    expect(await loadInSmallHeap(bytes, 512)).toBe('CorruptCheckpointError header-json');
  }, 120_000);

  it('60 MB of empty objects in a digest-valid Strata tree fail as corrupt within a 768 MB heap', async () => {
    const bytes = strataFileRaw(`{"x":[${'{},'.repeat(20_000_000)}{}]}`);
    expect(await loadInSmallHeap(bytes, 768)).toBe('CorruptCheckpointError invalid-metadata');
  }, 120_000);
});

describe('corrupt files through storage', () => {
  it('name the file, and never read more than the file holds', async () => {
    const fs = await privateMemoryFs();
    const hostile = fileWith('{}', new Uint8Array(100), 99_000_000n);
    await fs.pipe('/hostile.safetensors', hostile);
    const { fs: counted, stats } = instrumentedFs(fs);
    const error = await loadCheckpoint('/hostile.safetensors', { fs: counted }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCheckpointError);
    expect((error as CorruptCheckpointError).reason).toBe('truncated');
    expect((error as Error).message).toContain('memory:///hostile.safetensors');
    expect(stats.bytesRead).toBeLessThanOrEqual(hostile.length);
  });

  it('truncated copies of a real checkpoint fail to load and to describe', async () => {
    const fs = await privateMemoryFs();
    const bytes = validCheckpoint();
    for (const cut of [0, 5, 8, 9, bytes.length >> 1, bytes.length - 1]) {
      await fs.pipe('/cut.safetensors', bytes.subarray(0, cut));
      await expect(loadCheckpoint('/cut.safetensors', { fs })).rejects.toBeInstanceOf(CorruptCheckpointError);
      await expect(readCheckpointInfo('/cut.safetensors', { fs })).rejects.toBeInstanceOf(CorruptCheckpointError);
    }
  });

  it('readCheckpointInfo checks the metadata digest', () => {
    const bytes = validCheckpoint();
    const text = Buffer.from(bytes).toString('latin1');
    bytes[text.indexOf('\\"step\\":5') + 9] = '7'.charCodeAt(0);
    expect(() => readCheckpointInfoFromBytes(bytes)).toThrow(CorruptCheckpointError);
  });
});

/**
 * Atomically replaces the file with `replacement` right after the first call of `method` on it, so
 * the reads that follow see the new bytes while the load still holds what it saw before.
 */
function replacedAfterFirst(inner: FileSystem, method: 'info' | 'cat', replacement: Uint8Array): FileSystem {
  let replaced = false;
  return new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop !== method || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return async (path: string, ...rest: unknown[]) => {
        const out: unknown = await v.call(target, path, ...rest);
        if (!replaced) {
          replaced = true;
          await target.pipe(path, replacement);
        }
        return out;
      };
    },
  });
}

describe('a checkpoint replaced while its header is read', () => {
  const older = serializeCheckpoint({ step: 1, w: tensor('F32', [64], new Float32Array(64)) });
  const newer = serializeCheckpoint({ step: 2, w: tensor('F32', [128], new Float32Array(128).fill(1)) });

  it('between the size and the header is loaded again, not reported as corrupt', async () => {
    const fs = await privateMemoryFs();
    await fs.pipe('/ckpt.safetensors', older);
    const loaded = (await loadCheckpoint('/ckpt.safetensors', { fs: replacedAfterFirst(fs, 'info', newer) })) as { step: number; w: Tensor };
    expect(loaded.step).toBe(2);
    expect(loaded.w.shape).toEqual([128]);
  });

  it('between the size and the header is described again, not reported as corrupt', async () => {
    const fs = await privateMemoryFs();
    await fs.pipe('/ckpt.safetensors', older);
    const info = await readCheckpointInfo('/ckpt.safetensors', { fs: replacedAfterFirst(fs, 'info', newer) });
    expect(info.tensors.map((t) => t.shape)).toEqual([[128]]);
  });

  it('between the two reads of a header over 64 KiB is read again, not reported as corrupt', async () => {
    // Same size, different metadata: the second read joins the older header's start to the newer's end.
    const big = (fill: string, step: number) => serializeCheckpoint({ note: fill.repeat(100_000), step });
    const [older, newer] = [big('a', 1), big('b', 2)];
    const fs = await privateMemoryFs();
    await fs.pipe('/big.safetensors', older);
    expect(await loadCheckpoint('/big.safetensors', { fs: replacedAfterFirst(fs, 'cat', newer) })).toEqual(deserializeCheckpoint(newer));
    await fs.pipe('/big.safetensors', older);
    expect(await readCheckpointInfo('/big.safetensors', { fs: replacedAfterFirst(fs, 'cat', newer) })).toEqual(readCheckpointInfoFromBytes(newer));
  });

  it('while a file that stays put with the bytes that read saw is still CorruptCheckpointError', async () => {    const fs = await privateMemoryFs();
    await fs.pipe('/bad.safetensors', newer.subarray(0, older.length));
    for (const read of [loadCheckpoint, readCheckpointInfo]) {
      const error = await read('/bad.safetensors', { fs }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptCheckpointError);
      expect((error as CorruptCheckpointError).reason).toBe('out-of-bounds');
    }
  });
});
