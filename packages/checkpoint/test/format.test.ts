import { NotSupportedError } from '@strata/fs-core';
import { describe, expect, it } from 'vitest';

import {
  CorruptCheckpointError,
  deserializeCheckpoint,
  loadCheckpoint,
  readCheckpointInfo,
  joinKeyPath,
  readCheckpointInfoFromBytes,
  serializeCheckpoint,
  serializeSafetensors,
  splitKeyPath,
  tensor,
  escapeSegment,
  unescapeSegment,
} from '../src/index.js';
import { privateMemoryFs } from './helpers.js';

function headerText(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
}

function littleEndianF32(values: number[]): number[] {
  return [...new Uint8Array(new Float32Array(values).buffer)];
}

describe('safetensors container', () => {
  // Layouts from the safetensors specification's own serializer tests.
  it('lays out one tensor exactly as the reference writer', () => {
    const bytes = serializeSafetensors({ 'attn.0': tensor('F32', [1, 2, 3], [0, 1, 2, 3, 4, 5]) });
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(64);
    expect([...bytes]).toEqual([64, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(json), ...littleEndianF32([0, 1, 2, 3, 4, 5])]);
  });

  it('pads the header with spaces so tensor data starts 8-byte aligned', () => {
    const bytes = serializeSafetensors({ attn0: tensor('F32', [1, 1, 2, 3], [0, 1, 2, 3, 4, 5]) });
    const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(65);
    expect([...bytes]).toEqual([72, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(json), ...Buffer.from('       '), ...littleEndianF32([0, 1, 2, 3, 4, 5])]);
  });

  it('writes an empty file and metadata-only file like the reference', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...serializeSafetensors({}, { framework: 'pt' })]).toEqual([40, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{"__metadata__":{"framework":"pt"}}'), 32, 32, 32, 32, 32]);
  });

  it('orders tensors by dtype alignment rank (descending), then by name', () => {
    const bytes = serializeSafetensors({
      b: tensor('F32', [1]),
      a: tensor('F32', [1]),
      c: tensor('I64', [1]),
      d: tensor('BOOL', [1]),
      e: tensor('F64', [1]),
      f: tensor('BF16', [1]),
      g: tensor('F16', [1]),
      h: tensor('U8', [1]),
      i: tensor('I8', [1]),
      j: tensor('U64', [1]),
      k: tensor('I32', [1]),
      l: tensor('U32', [1]),
      m: tensor('I16', [1]),
      n: tensor('U16', [1]),
    });
    const order = Object.keys(JSON.parse(headerText(bytes)));
    expect(order).toEqual(['j', 'c', 'e', 'a', 'b', 'l', 'k', 'f', 'g', 'n', 'm', 'i', 'h', 'd']);
  });

  it('compares names by UTF-8 bytes, as Rust does, not by UTF-16 code units', () => {
    const bytes = serializeSafetensors({ '😀': tensor('U8', [1]), '\ue000': tensor('U8', [1]), z: tensor('U8', [1]) });
    expect(Object.keys(JSON.parse(headerText(bytes)))).toEqual(['z', '\ue000', '😀']);
  });

  it('keeps integer-like names in data order in the header text', () => {
    const bytes = serializeSafetensors({ b: tensor('U8', [1]), '1': tensor('U8', [1]), '0': tensor('U8', [1]) });
    expect(headerText(bytes).indexOf('"0"')).toBeLessThan(headerText(bytes).indexOf('"1"'));
    expect(headerText(bytes).indexOf('"1"')).toBeLessThan(headerText(bytes).indexOf('"b"'));
  });
});

describe('plain safetensors files from Python', () => {
  it("BOOL bytes other than 0 and 1 (numpy's writer stores them unchecked) load as 1, without touching the caller's bytes", () => {
    // What Python's safetensors writes for `np.array([0,1,2,255], np.uint8).view(np.bool_)`.
    const header = new TextEncoder().encode('{"mask":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}}'.padEnd(64));
    const bool = new Uint8Array(8 + header.length + 4);
    new DataView(bool.buffer).setBigUint64(0, BigInt(header.length), true);
    bool.set(header, 8);
    bool.set([0, 1, 2, 255], 8 + header.length);
    const before = bool.slice();
    const { mask } = deserializeCheckpoint(bool) as { mask: { dtype: string; data: Uint8Array } };
    expect(mask.dtype).toBe('BOOL');
    expect([...mask.data]).toEqual([0, 1, 1, 1]);
    expect(bool).toEqual(before);
    // What loads can be saved again.
    expect(() => serializeSafetensors({ mask: mask as never })).not.toThrow();
  });

  it('serializeSafetensors refuses names and metadata with a lone surrogate, which Python cannot read', () => {
    const w = tensor('F32', [1], [1]);
    expect(() => serializeSafetensors({ 'w\ud800': w })).toThrow(/lone surrogate/);
    expect(() => serializeSafetensors({ w }, { 'k\udc00': 'v' })).toThrow(/lone surrogate/);
    expect(() => serializeSafetensors({ w }, { k: 'v\ud800' })).toThrow(/lone surrogate/);
    expect(() => serializeSafetensors({ 'w\u{1F600}': w }, { k: '\u{1F600}' })).not.toThrow();
  });
});

describe('Strata metadata', () => {
  it('puts format, version, digest and strata in __metadata__, and nothing else', () => {
    const bytes = serializeCheckpoint({ step: 1, w: tensor('F32', [2], [1, 2]) });
    const header = JSON.parse(headerText(bytes));
    expect(Object.keys(header)).toEqual(['__metadata__', 'w']);
    const md = header.__metadata__;
    expect(Object.keys(md)).toEqual(['format', 'version', 'digest', 'strata']);
    expect(md.format).toBe('strata-checkpoint');
    expect(md.version).toBe('1');
    expect(md.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const strata = JSON.parse(md.strata);
    expect(strata.tree).toEqual({ step: 1, w: { $tensor: 'w' } });
    expect(strata.tensors).toEqual([{ name: 'w', dtype: 'F32', shape: [2], sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  });

  it('encodes the special values with documented tags', () => {
    const bytes = serializeCheckpoint({
      n: [NaN, Infinity, -Infinity, -0, 1.5],
      b: 12345678901234567890n,
      u: undefined,
      d: new Date(0),
      m: new Map([[1, 'x']]),
      s: new Set(['y']),
      o: { $x: 1 },
      a: new Float32Array([1]),
    });
    const { tree } = JSON.parse(JSON.parse(headerText(bytes)).__metadata__.strata);
    expect(tree).toEqual({
      n: [{ $number: 'NaN' }, { $number: 'Infinity' }, { $number: '-Infinity' }, { $number: '-0' }, 1.5],
      b: { $bigint: '12345678901234567890' },
      u: { $undefined: true },
      d: { $date: '1970-01-01T00:00:00.000Z' },
      m: { $map: [[1, 'x']] },
      s: { $set: ['y'] },
      o: { $object: { $x: 1 } },
      a: { $array: { type: 'Float32Array', tensor: 'a' } },
    });
  });

  it('writes exactly the bytes of the README example (format version 1 is frozen)', () => {
    const bytes = serializeCheckpoint({ step: 1, w: tensor('F32', [2], [1, 2]) });
    expect(bytes.length).toBe(424);
    expect([...bytes.subarray(0, 8)]).toEqual([0x98, 0x01, 0, 0, 0, 0, 0, 0]);
    const strata =
      '{"tree":{"step":1,"w":{"$tensor":"w"}},"tensors":[{"name":"w","dtype":"F32","shape":[2],"sha256":"b9c80b5adeca450753a16950c3cc655d271f7bef7a485bc83f112b72fef21d37"}]}';
    const header =
      `{"__metadata__":{"format":"strata-checkpoint","version":"1","digest":"sha256:d65f30bb08de15b39a5c5528b8c535a160839a887ed5d1c4a206eb4060e482f9","strata":${JSON.stringify(strata)}},` +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}       ';
    expect(headerText(bytes)).toBe(header);
    expect([...bytes.subarray(416)]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  });

  it('is deterministic: the same object gives the same bytes', () => {
    const make = () => ({ w: tensor('F32', [3], [1, 2, 3]), meta: { lr: 0.1, tags: new Set(['a']) } });
    expect(Buffer.compare(serializeCheckpoint(make()), serializeCheckpoint(make()))).toBe(0);
  });

  it('describes a file without reading its data', () => {
    const info = readCheckpointInfoFromBytes(serializeCheckpoint({ x: { y: tensor('I16', [2, 2]) } }));
    expect(info).toMatchObject({ format: 'strata-checkpoint', version: 1, tensors: [{ name: 'x.y', dtype: 'I16', shape: [2, 2], byteLength: 8, dataOffsets: [0, 8] }] });
    expect(info.tensors[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const plain = readCheckpointInfoFromBytes(serializeSafetensors({ t: tensor('U8', [1]) }, { a: 'b' }));
    expect(plain).toMatchObject({ format: 'safetensors', version: undefined, metadata: { a: 'b' } });
  });

  it('treats a file whose metadata merely mentions a format as plain safetensors', () => {
    const bytes = serializeSafetensors({ t: tensor('U8', [1], [3]) }, { format: 'pt' });
    expect(deserializeCheckpoint(bytes)).toEqual({ t: tensor('U8', [1], [3]) });
  });

  it('treats a file with a "strata" metadata entry but no Strata format marker as plain safetensors', () => {
    for (const metadata of [{ strata: 'my notes' }, { strata: '{}', digest: 'sha256:x', version: '1' }] as Record<string, string>[]) {
      const bytes = serializeSafetensors({ t: tensor('U8', [1], [3]) }, metadata);
      expect(deserializeCheckpoint(bytes)).toEqual({ t: tensor('U8', [1], [3]) });
      expect(readCheckpointInfoFromBytes(bytes)).toMatchObject({ format: 'safetensors', version: undefined, metadata });
    }
  });
});

describe('dtypes the reference reader knows and Strata cannot load', () => {
  /** A header with these tensors laid out in order, and zero bytes for their data. */
  function foreignFile(tensors: [string, string, number[], number][]): Uint8Array {
    const header: Record<string, unknown> = { __metadata__: { note: 'from torch' } };
    let offset = 0;
    for (const [name, dtype, shape, bytes] of tensors) {
      header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
    const out = new Uint8Array(8 + json.length + offset);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.fill(1, 8 + json.length);
    return out;
  }
  const tensors: [string, string, number[], number][] = [
    ['ok', 'U8', [2], 2],
    ['c', 'C64', [2, 1], 16],
    ['f8', 'F8_E4M3', [3], 3],
    ['f8b', 'F8_E5M2', [1], 1],
    ['e8', 'F8_E8M0', [1], 1],
    ['fnuz', 'F8_E4M3FNUZ', [2], 2],
    ['fnuz2', 'F8_E5M2FNUZ', [2], 2],
    ['f4', 'F4', [2, 2], 2],
    ['f6', 'F6_E2M3', [4], 3],
    ['f6b', 'F6_E3M2', [8], 6],
    ['empty', 'C64', [0, 9], 0],
  ];

  it('are listed by readCheckpointInfo with their sizes checked', () => {
    const info = readCheckpointInfoFromBytes(foreignFile(tensors));
    expect(info.format).toBe('safetensors');
    expect(info.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength])).toEqual(
      expect.arrayContaining(tensors.map(([name, dtype, shape, bytes]) => [name, dtype, shape, bytes])),
    );
    expect(info.tensors).toHaveLength(tensors.length);
    for (const [dtype, shape, bytes] of [['C64', [2], 15], ['F8_E4M3', [2], 3], ['F4', [3], 2], ['F4', [3], 1], ['F6_E2M3', [2], 2]] as const) {
      const error = (() => {
        try {
          readCheckpointInfoFromBytes(foreignFile([['x', dtype, [...shape], bytes]]));
        } catch (e) {
          return e;
        }
      })();
      expect(error, `${dtype}[${shape.join(',')}] in ${bytes} bytes`).toBeInstanceOf(CorruptCheckpointError);
      expect((error as CorruptCheckpointError).reason).toBe('size-mismatch');
    }
  });

  it('load only when not selected; loading one fails naming it, and is not called corrupt', async () => {
    const bytes = foreignFile(tensors);
    expect(deserializeCheckpoint(bytes, { keys: (name) => name === 'ok' })).toEqual({ ok: tensor('U8', [2], [1, 1]) });
    for (const [name, dtype] of tensors.filter(([, d]) => d !== 'U8')) {
      const error = (() => {
        try {
          deserializeCheckpoint(bytes, { keys: (n) => n === name || n === 'ok' });
        } catch (e) {
          return e;
        }
      })();
      expect(error, name).toBeInstanceOf(NotSupportedError);
      expect(error, name).not.toBeInstanceOf(CorruptCheckpointError);
      expect((error as Error).message).toContain(`"${name}"`);
      expect((error as Error).message).toContain(dtype);
    }
    expect(() => deserializeCheckpoint(bytes)).toThrow(NotSupportedError);

    const fs = await privateMemoryFs();
    await fs.pipe('/torch.safetensors', bytes);
    expect(await loadCheckpoint('/torch.safetensors', { fs, keys: (name) => name === 'ok' })).toEqual({ ok: tensor('U8', [2], [1, 1]) });
    const error = await loadCheckpoint('/torch.safetensors', { fs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect((error as NotSupportedError).code).toBe('ENOTSUP');
    expect((error as Error).message).toContain('memory:///torch.safetensors');
    expect((await readCheckpointInfo('/torch.safetensors', { fs })).tensors).toHaveLength(tensors.length);
  });
});

describe('key paths', () => {
  it('escapes ~ and . like JSON Pointer escapes ~ and /', () => {
    expect(escapeSegment('a.b~c')).toBe('a~1b~0c');
    expect(unescapeSegment('a~1b~0c')).toBe('a.b~c');
    expect(unescapeSegment('~01')).toBe('~1');
    expect(joinKeyPath(['state_dict', 'encoder.weight'])).toBe('state_dict.encoder~1weight');
    expect(splitKeyPath('state_dict.encoder~1weight')).toEqual(['state_dict', 'encoder.weight']);
    expect(splitKeyPath(joinKeyPath(['~1', '.', '', 'x~']))).toEqual(['~1', '.', '', 'x~']);
  });

  it('gives Map entries readable, unique names', () => {
    const bytes = serializeCheckpoint({
      m: new Map<unknown, unknown>([
        [0, tensor('U8', [1])],
        ['0', tensor('U8', [1])],
        [true, tensor('U8', [1])],
        [5n, tensor('U8', [1])],
        ['a.b', tensor('U8', [1])],
      ]),
    });
    expect(Object.keys(JSON.parse(headerText(bytes))).filter((k) => k !== '__metadata__').sort()).toEqual(['m.0', 'm.5', 'm.a~1b', 'm.~k0', 'm.~k2']);
  });
});
