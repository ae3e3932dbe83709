/**
 * Prototype pollution through the two places untrusted JSON reaches Strata: checkpoint metadata
 * (read from storage) and storage options (often parsed from config files or env).
 * The parser-level fuzzing (11,800 fast-check cases) lives in packages/checkpoint/test/fuzz.test.ts.
 */
import { createHash } from 'node:crypto';

import { CorruptCheckpointError, loadCheckpoint, readCheckpointInfo, saveCheckpoint, serializeCheckpoint, tensor } from '@strata/checkpoint';
import { filesystem, InvalidPathError, optionsFor, urlToFs } from '@strata/fs-core';
import { afterEach, describe, expect, it } from 'vitest';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function prototypesClean(): void {
  for (const proto of [Object.prototype, Array.prototype, Function.prototype]) {
    expect(Object.getOwnPropertyNames(proto).filter((k) => ['polluted', 'isAdmin', 'dtype', 'shape'].includes(k))).toEqual([]);
  }
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
}

/**
 * Rewrites the JSON inside a saved checkpoint's `__metadata__.strata` and fixes up its digest and
 * the header length, so the file passes every integrity check and only the content is hostile.
 */
function withStrataJson(file: Uint8Array, edit: (strataJson: string) => string): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(decoder.decode(file.subarray(8, 8 + headerLength))) as { __metadata__: Record<string, string> } & Record<string, unknown>;
  const strata = edit(header.__metadata__['strata']!);
  header.__metadata__['strata'] = strata;
  header.__metadata__['digest'] = `sha256:${createHash('sha256').update(strata).digest('hex')}`;
  // Pad with spaces to an 8-byte multiple, as the format recommends.
  let json = JSON.stringify(header);
  while ((8 + encoder.encode(json).length) % 8 !== 0) json += ' ';
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.length + (file.length - 8 - headerLength));
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(file.subarray(8 + headerLength), 8 + headerBytes.length);
  return out;
}

describe('prototype pollution through checkpoint metadata', () => {
  afterEach(prototypesClean);

  const base = () => serializeCheckpoint({ epoch: 3, marker: { inner: 1 }, state_dict: { w: tensor('F32', [2], [1, 2]) } });

  const hostile: Array<[string, (json: string) => string]> = [
    ['__proto__ key in the object tree', (json) => json.replace('"marker"', '"__proto__"')],
    ['nested __proto__ with a payload', (json) => json.replace('"inner":1', '"__proto__":{"polluted":"yes","isAdmin":true}')],
    ['unicode-escaped __proto__', (json) => json.replace('"marker"', '"\\u005f_proto__"')],
  ];

  for (const [label, edit] of hostile) {
    it(`${label}: refused as CorruptCheckpointError on load; info keeps it as an inert string`, async () => {
      const file = withStrataJson(base(), edit);
      expect(decoder.decode(file)).toMatch(/proto/);
      const fs = await filesystem('memory', { store: 'private' });
      await fs.pipe('/hostile.safetensors', file);
      const url = 'memory://hostile.safetensors';
      await expect(loadCheckpoint(url, { fs })).rejects.toBeInstanceOf(CorruptCheckpointError);
      // The header-only view either refuses too or hands back the metadata as strings, never parsed into objects.
      const info = await readCheckpointInfo(url, { fs }).catch((error: unknown) => error);
      if (info instanceof Error) expect(info).toBeInstanceOf(CorruptCheckpointError);
      else expect(typeof (info as { metadata: Record<string, unknown> }).metadata['strata']).toBe('string');
      await fs.close();
    });
  }

  it('constructor.prototype in the tree is plain data on a plain object, not a path to Object.prototype', async () => {
    const file = withStrataJson(base(), (json) => json.replace('"inner":1', '"constructor":{"prototype":{"polluted":"yes"}}'));
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/ctor.safetensors', file);
    const loaded = (await loadCheckpoint('memory://ctor.safetensors', { fs })) as { marker: Record<string, unknown> };
    expect(Object.getPrototypeOf(loaded.marker) === Object.prototype || Object.getPrototypeOf(loaded.marker) === null).toBe(true);
    expect(Object.keys(loaded.marker)).toEqual(['constructor']);
    expect(loaded.marker['constructor']).toEqual({ prototype: { polluted: 'yes' } });
    await fs.close();
  });

  it('a checkpoint whose object keys look like Object.prototype members saves and loads as data', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await saveCheckpoint({ toString: 'x', hasOwnProperty: 1, valueOf: [2], prototype: { a: 1 } }, 'memory://members.safetensors', { fs });
    const loaded = await loadCheckpoint('memory://members.safetensors', { fs });
    expect(loaded).toEqual({ toString: 'x', hasOwnProperty: 1, valueOf: [2], prototype: { a: 1 } });
    const info = await readCheckpointInfo('memory://members.safetensors', { fs });
    expect(Object.getPrototypeOf(info.metadata) === Object.prototype || Object.getPrototypeOf(info.metadata) === null).toBe(true);
    await fs.close();
  });

  it('saving an object with an own __proto__ key is refused rather than written', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    const hostileObject = JSON.parse('{"epoch":1,"__proto__":{"polluted":"yes"}}') as object;
    await expect(saveCheckpoint(hostileObject, 'memory://refused.safetensors', { fs })).rejects.toThrow(/__proto__/);
    expect(await fs.exists('/refused.safetensors')).toBe(false);
    await fs.close();
  });
});

describe('prototype pollution through storage options', () => {
  afterEach(prototypesClean);

  const payloads = [
    '{"__proto__":{"polluted":"yes"}}',
    '{"memory":{"__proto__":{"polluted":"yes"}}}',
    '{"s3":{"clientConfig":{"__proto__":{"isAdmin":true}}}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"memory":{"constructor":{"prototype":{"isAdmin":true}}}}',
    '{"s3":{"credentials":{"prototype":{"isAdmin":true}}}}',
  ];

  it('urlToFs, filesystem and optionsFor refuse __proto__, constructor and prototype keys at any depth', async () => {
    for (const payload of payloads) {
      const options = JSON.parse(payload) as Record<string, unknown>;
      await expect(urlToFs('memory://x', options), payload).rejects.toBeInstanceOf(InvalidPathError);
      await expect(urlToFs('s3://bucket/x', options), payload).rejects.toBeInstanceOf(InvalidPathError);
      expect(() => optionsFor('memory', options), payload).toThrow(InvalidPathError);
      const flat = options['memory'] ?? options['s3'] ?? options;
      await expect(filesystem('memory', flat), payload).rejects.toBeInstanceOf(InvalidPathError);
      await expect(filesystem('s3', flat), payload).rejects.toBeInstanceOf(InvalidPathError);
    }
  });

  it('checkpoint calls pass storage options through the same check', async () => {
    const options = JSON.parse('{"memory":{"__proto__":{"polluted":"yes"}}}') as Record<string, unknown>;
    await expect(saveCheckpoint({ a: 1 }, 'memory://opts.safetensors', { storageOptions: options })).rejects.toBeInstanceOf(InvalidPathError);
    await expect(loadCheckpoint('memory://opts.safetensors', { storageOptions: options })).rejects.toBeInstanceOf(InvalidPathError);
  });
});
