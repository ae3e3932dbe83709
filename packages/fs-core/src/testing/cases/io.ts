import { expect } from 'vitest';

import { AlreadyExistsError, ConflictError, FsError, InvalidPathError, IsADirectoryError, NotFoundError } from '../../errors.js';
import type { WriteHandle } from '../../types.js';
import {
  concatBytes,
  expectFsError,
  expectSameBytes,
  expectSaneProgress,
  pseudoRandomBytes,
  text,
  utf8,
  type CaseRegistrar,
  type Harness,
} from '../harness.js';

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return concatBytes(chunks);
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks);
    chunks.push(value);
  }
}

export function registerIoCases(h: Harness, test: CaseRegistrar): void {
  test('write() is done with the caller\'s buffer when it resolves, so the buffer can be reused', async () => {
    const path = h.path('reused-buffer.bin');
    const reused = new Uint8Array(64 * 1024);
    const expected: Uint8Array[] = [];
    const handle = await h.fs.open(path, 'wb');
    for (let i = 0; i < 40; i++) {
      reused.fill(i + 1);
      expected.push(reused.slice());
      await handle.write(reused);
    }
    await handle.commit();
    expectSameBytes(await h.fs.cat(path), concatBytes(expected));
  });

  test('pipe then cat round-trips every byte value and UTF-8 text', async () => {
    const everyByte = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
    const binary = await h.write('bytes.bin', everyByte);
    expectSameBytes(await h.fs.cat(binary), everyByte);
    const textPath = await h.write('text.txt', 'héllo wörld ✓ 🎉\n');
    expect(await h.readText(textPath)).toBe('héllo wörld ✓ 🎉\n');
    expect((await h.fs.info(textPath)).size).toBe(utf8('héllo wörld ✓ 🎉\n').length);
  });

  test('pipe and write take an ArrayBuffer or any view of one by its bytes; anything else is a TypeError that leaves the old file', async () => {
    const hello = utf8('__hello__');
    const view = hello.subarray(2, 7); // 'hello', at an offset into a larger buffer
    const inputs: Array<[string, ArrayBuffer | ArrayBufferView]> = [
      ['ArrayBuffer', utf8('hello').buffer as ArrayBuffer],
      ['Uint8Array at an offset', view],
      ['Buffer', Buffer.from('hello')],
      ['DataView', new DataView(hello.buffer, 2, 5)],
      ['Uint16Array', new Uint16Array(hello.buffer.slice(2, 6))],
    ];
    for (const [what, data] of inputs) {
      const expected = new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer, data instanceof ArrayBuffer ? 0 : data.byteOffset, data.byteLength).slice();
      const piped = await h.write(`piped-${what}.bin`, 'precious old data');
      await h.fs.pipe(piped, data);
      expectSameBytes(await h.fs.cat(piped), expected, `pipe(${what})`);
      const written = h.path(`written-${what}.bin`);
      const handle = await h.fs.open(written, 'wb');
      await handle.write(data);
      await handle.write(data);
      expect(handle.bytesWritten, what).toBe(2 * expected.length);
      await handle.commit();
      expectSameBytes(await h.fs.cat(written), concatBytes([expected, expected]), `write(${what})`);
    }
    const precious = await h.write('precious.txt', 'precious');
    for (const bad of [[104, 105], { length: 3 }, 42, null, undefined]) {
      await expect(h.fs.pipe(precious, bad as never), JSON.stringify(bad)).rejects.toThrow(TypeError);
      await expect(h.fs.pipe(h.path('never.txt'), bad as never)).rejects.toThrow(TypeError);
    }
    const handle = await h.fs.open(precious, 'wb');
    await expect(handle.write([104, 105] as never)).rejects.toThrow(TypeError);
    await handle.abort();
    expect(await h.readText(precious)).toBe('precious');
    expect(await h.fs.exists(h.path('never.txt'))).toBe(false);
  });

  test("pipe refuses a mode other than 'overwrite' or 'create', as open does, and writes nothing", async () => {
    const existing = await h.write('moded.txt', 'old');
    for (const mode of ['append', 'wb', '']) {
      const error = await expectFsError(h.fs.pipe(existing, 'new', { mode: mode as never }), InvalidPathError, mode);
      expect(error.message).toContain(`"${mode}"`);
      await expectFsError(h.fs.pipe(h.path('fresh.txt'), 'new', { mode: mode as never }), InvalidPathError, mode);
    }
    await expectFsError(h.fs.open(existing, 'ab' as never), InvalidPathError, 'open ab');
    expect(await h.readText(existing)).toBe('old');
    expect(await h.fs.exists(h.path('fresh.txt'))).toBe(false);
  });

  test('pipe overwrites: a shorter new version leaves no old bytes behind', async () => {
    const path = await h.write('over.txt', 'a much longer first version');
    await h.fs.pipe(path, 'short');
    expect(await h.readText(path)).toBe('short');
    expect((await h.fs.info(path)).size).toBe(5);
  });

  test('pipe creates missing parent directories', async () => {
    const path = await h.write('made/on/the/way/file.txt', 'x');
    expect(await h.readText(path)).toBe('x');
    expect(await h.fs.isDir(h.path('made/on'))).toBe(true);
  });

  test("pipe with mode 'create' writes a new file but never replaces one", async () => {
    const path = h.path('create.txt');
    await h.fs.pipe(path, 'first', { mode: 'create' });
    expect(await h.readText(path)).toBe('first');
    await expectFsError(h.fs.pipe(path, 'second', { mode: 'create' }), AlreadyExistsError);
    expect(await h.readText(path)).toBe('first');
  });

  test('empty files: size 0, empty cat and ranges, empty read handle, listed', async () => {
    const path = await h.write('empty.bin', new Uint8Array(0));
    const info = await h.fs.info(path);
    expect(info).toMatchObject({ name: path, type: 'file', size: 0 });
    expect(await h.fs.exists(path)).toBe(true);
    expect((await h.fs.cat(path)).length).toBe(0);
    expect((await h.fs.cat(path, { start: 0, end: 10 })).length).toBe(0);
    expect((await h.fs.cat(path, { start: -5 })).length).toBe(0);
    expect((await h.fs.cat(path, { start: 3 })).length).toBe(0);
    const handle = await h.fs.open(path, 'rb');
    expect(handle.size).toBe(0);
    expect((await handle.read()).length).toBe(0);
    expect((await collect(handle)).length).toBe(0);
    await handle.close();
    expect(await h.fs.ls(h.dir)).toEqual([expect.objectContaining({ name: path, type: 'file', size: 0 })]);
    expect(await h.fs.du(h.dir)).toBe(0);
    const viaHandle = h.path('empty-handle.bin');
    const writer = await h.fs.open(viaHandle, 'wb');
    await writer.commit();
    expect((await h.fs.info(viaHandle)).size).toBe(0);
  });

  test('cat ranges: end exclusive, clamped past the end, negative offsets count from the end', async () => {
    const path = await h.write('range.txt', '0123456789');
    const cat = async (start?: number, end?: number) => text(await h.fs.cat(path, { start, end }));
    expect(await cat()).toBe('0123456789');
    expect(await cat(2, 5)).toBe('234');
    expect(await cat(0, 1)).toBe('0');
    expect(await cat(7)).toBe('789');
    expect(await cat(undefined, 3)).toBe('012');
    expect(await cat(8, 100)).toBe('89'); // end past the end
    expect(await cat(10)).toBe(''); // start at the end
    expect(await cat(25, 30)).toBe(''); // start past the end
    expect(await cat(5, 5)).toBe('');
    expect(await cat(6, 2)).toBe('');
    expect(await cat(-3)).toBe('789');
    expect(await cat(-4, -1)).toBe('678');
    expect(await cat(2, -2)).toBe('234567');
    expect(await cat(-100)).toBe('0123456789'); // clamped to the start
    expect(await cat(-100, 2)).toBe('01');
    expect(await cat(0, -100)).toBe('');
  });

  test('range and seek arguments: integers only, null as "to the end", whence 0, 1 or 2', async () => {
    const path = await h.write('bounds.txt', '0123456789');
    expect(text(await h.fs.cat(path, { start: 2, end: null }))).toBe('23456789');
    expect(text(await h.fs.cat(path, { start: null, end: 3 }))).toBe('012');
    expect((await h.fs.catRanges([path, path], [2, null], [null, 2])).map(text)).toEqual(['23456789', '01']);
    for (const [start, end, name] of [[1.5, 4, 'start'], [1, 4.5, 'end'], [NaN, undefined, 'start'], [0, Infinity, 'end'], [-0.5, undefined, 'start']] as const) {
      const error = await expectFsError(h.fs.cat(path, { start, end }), InvalidPathError, `cat(${start}, ${end})`);
      expect(error.message).toContain(name);
    }
    const ranges = await expectFsError(h.fs.catRanges([path, path], [0, 1.5], [2, 4]), InvalidPathError, 'catRanges');
    expect(ranges.message).toContain('starts[1]');
    await expectFsError(h.fs.catRanges([path], [0], [NaN]), InvalidPathError, 'catRanges NaN end');

    const handle = await h.fs.open(path, 'rb');
    try {
      handle.seek(3);
      expect(() => handle.seek(0, 7 as never)).toThrow(InvalidPathError);
      expect(() => handle.seek(1.5)).toThrow(InvalidPathError);
      expect(() => handle.seek(NaN, 1)).toThrow(InvalidPathError);
      expect(handle.tell()).toBe(3); // a refused seek moves nothing
      await expectFsError(handle.read(1.5), InvalidPathError, 'read(1.5)');
      expect(text(await handle.read(2))).toBe('34');
      expect(handle.seek(-2, 2)).toBe(8);
      expect(text(await handle.read())).toBe('89');
    } finally {
      await handle.close();
    }
  });

  test('reads on one handle run in call order: unawaited reads get consecutive bytes, and a seek after a read wins', async () => {
    const path = await h.write('ordered.txt', '0123456789');
    const handle = await h.fs.open(path, 'rb');
    try {
      const [a, b] = await Promise.all([handle.read(4), handle.read(4)]);
      expect([text(a), text(b)]).toEqual(['0123', '4567']);
      expect(handle.tell()).toBe(8);
      const pending = handle.read(1);
      handle.seek(2);
      expect(text(await pending)).toBe('8');
      expect(handle.tell()).toBe(2);
      expect(text(await handle.read())).toBe('23456789');
    } finally {
      await handle.close();
    }
  });

  test('cat ranges of a missing file throw NotFoundError', async () => {
    await expectFsError(h.fs.cat(h.path('missing.bin'), { start: 0, end: 10 }), NotFoundError);
    await expectFsError(h.fs.cat(h.path('missing.bin'), { start: -2 }), NotFoundError);
  });

  test('catRanges reads many ranges at once, in order, and reports progress', async () => {
    const one = await h.write('r1.txt', 'abcdefghij');
    const two = await h.write('r2.txt', 'KLMNOPQRST');
    const calls: Array<[number, number]> = [];
    const parts = await h.fs.catRanges([one, two, one, two], [0, 5, 8, -3], [3, 8, 50, 10], {
      onProgress: (done, total) => calls.push([done, total]),
    });
    expect(parts.map(text)).toEqual(['abc', 'PQR', 'ij', 'RST']);
    expectSaneProgress(calls, 3 + 3 + 2 + 3);
    await expectFsError(h.fs.catRanges([one, h.path('nope.txt')], [0, 0], [1, 1]), NotFoundError);
  });

  test("open 'rb': read(n), tell, seek (from start, current, end), read() of the rest, empty at EOF", async () => {
    const path = await h.write('handle.txt', 'abcdefghijklmnopqrstuvwxyz');
    const handle = await h.fs.open(path, 'rb');
    try {
      expect(handle.path).toBe(path);
      expect(handle.size).toBe(26);
      expect(handle.info).toMatchObject({ name: path, type: 'file', size: 26 });
      expect(handle.tell()).toBe(0);
      expect(text(await handle.read(3))).toBe('abc');
      expect(handle.tell()).toBe(3);
      expect(text(await handle.read(2))).toBe('de');
      expect(handle.seek(10)).toBe(10);
      expect(text(await handle.read(2))).toBe('kl');
      expect(handle.seek(2, 1)).toBe(14);
      expect(text(await handle.read(1))).toBe('o');
      expect(handle.seek(-3, 2)).toBe(23);
      expect(text(await handle.read())).toBe('xyz');
      expect(handle.tell()).toBe(26);
      expect((await handle.read()).length).toBe(0);
      expect((await handle.read(5)).length).toBe(0);
      handle.seek(24);
      expect(text(await handle.read(100))).toBe('yz');
      handle.seek(0);
      expect(text(await handle.read())).toBe('abcdefghijklmnopqrstuvwxyz');
    } finally {
      await handle.close();
    }
  });

  test("open 'rb': async iteration and stream() deliver the whole file", async () => {
    const payload = pseudoRandomBytes(300_000, 7);
    const path = await h.write('big.bin', payload);
    const iterated = await h.fs.open(path, 'rb');
    expectSameBytes(await collect(iterated), payload, 'async iteration');
    await iterated.close();
    const streamed = await h.fs.open(path, 'rb');
    expectSameBytes(await drain(streamed.stream()), payload, 'stream()');
    await streamed.close();
    const disposed = await h.fs.open(path, 'rb');
    expect((await disposed.read(10)).length).toBe(10);
    await disposed[Symbol.asyncDispose]();
  });

  test("open 'rb' of a missing file is NotFoundError; of a directory IsADirectoryError", async () => {
    await h.write('dir/file.txt', 'x');
    await expectFsError(h.fs.open(h.path('missing.txt'), 'rb'), NotFoundError);
    await expectFsError(h.fs.open(h.path('dir'), 'rb'), IsADirectoryError);
    // cat answers the same, though an object store's read of a prefix only says "no such object".
    await expectFsError(h.fs.cat(h.path('dir')), IsADirectoryError);
    await expectFsError(h.fs.cat(h.path('dir'), { start: 0, end: 1 }), IsADirectoryError);
    await expectFsError(h.fs.cat(h.path('missing.txt')), NotFoundError);
  });

  test('a read handle is pinned to the version it opened: a replaced file fails with ConflictError', async () => {
    const path = await h.write('pinned.txt', 'version one');
    const handle = await h.fs.open(path, 'rb');
    try {
      await h.fs.pipe(path, 'version two, longer');
      await expectFsError(handle.read(), ConflictError);
    } finally {
      await handle.close();
    }
    const fresh = await h.fs.open(path, 'rb');
    expect(text(await fresh.read())).toBe('version two, longer');
    await fresh.close();
  });

  test("open 'wb': chunks become visible only at commit, whole", async () => {
    const path = h.path('staged/out.bin');
    const parts = [utf8('head-'), pseudoRandomBytes(100_000, 3), utf8('-tail')];
    const handle = await h.fs.open(path, 'wb');
    expect(handle.path).toBe(path);
    expect(handle.mode).toBe('overwrite');
    await handle.write(parts[0]!);
    await handle.write(parts[1]!);
    await handle.write('-tail');
    expect(handle.bytesWritten).toBe(5 + 100_000 + 5);
    expect(await h.fs.exists(path)).toBe(false);
    await handle.commit();
    expectSameBytes(await h.fs.cat(path), concatBytes(parts));
  }, { needs: ['atomicCommit'] });

  test("open 'wb' over an existing file: readers see the old content until commit", async () => {
    const path = await h.write('replace.txt', 'old content');
    const handle = await h.fs.open(path, 'wb');
    await handle.write('new content');
    expect(await h.readText(path)).toBe('old content');
    await handle.commit();
    expect(await h.readText(path)).toBe('new content');
  }, { needs: ['atomicCommit'] });

  test('patch (where offered) replaces written bytes before commit, across write boundaries', async ({ skip }) => {
    const path = h.path('patched.bin');
    const handle = await h.fs.open(path, 'wb');
    const declared = h.declaredPatch;
    if (declared !== undefined) expect(handle.patch === undefined, `declared patch: '${declared}'`).toBe(declared === 'none');
    if (!handle.patch) {
      // Handles whose bytes go out in order as they are written (GCS) must not pretend to patch.
      await handle.abort();
      expect(handle.patchableBytes).toBeUndefined();
      if (declared === undefined) skip('handles of this backend do not patch');
      return;
    }
    expect(handle.patchableBytes).toBeGreaterThanOrEqual(4000);
    const first = pseudoRandomBytes(1000, 3);
    const second = pseudoRandomBytes(3000, 4);
    await handle.write(first);
    await handle.write(second);
    await handle.patch(0, utf8('HEAD'));
    await handle.patch(998, utf8('xyzw')); // straddles the two writes
    await expect(handle.patch(3998, utf8('past the end'))).rejects.toThrow(RangeError);
    expect(await h.fs.exists(path)).toBe(false);
    await handle.write(utf8('tail'));
    await handle.commit();
    const expected = concatBytes([first, second, utf8('tail')]);
    expected.set(utf8('HEAD'), 0);
    expected.set(utf8('xyzw'), 998);
    expectSameBytes(await h.fs.cat(path), expected);
    await expectFsError(handle.patch(0, utf8('late')), FsError);
  });

  test('patch refuses bytes past patchableBytes (object stores hold back only their first part)', async ({ skip }) => {
    const handle = await h.fs.open(h.path('patch-limit.bin'), 'wb');
    const limit = handle.patchableBytes;
    const declared = h.declaredPatch;
    if (!handle.patch || limit === undefined || !Number.isFinite(limit)) {
      await handle.abort();
      expect(declared, `patchableBytes is ${limit}`).not.toBe('first-part');
      if (declared === undefined) skip('no bounded patch on this backend');
      return;
    }
    if (declared !== undefined) expect(declared, `patchableBytes is ${limit}`).toBe('first-part');
    try {
      await handle.write(pseudoRandomBytes(limit + 10, 5));
      await handle.patch(limit - 4, utf8('last')); // the last patchable bytes
      await expect(handle.patch(limit - 2, utf8('over'))).rejects.toThrow(RangeError);
    } finally {
      await handle.abort();
    }
  });

  test('a write issued after commit() without awaiting it is refused, never silently dropped', async () => {
    const path = h.path('late-write.txt');
    const handle = await h.fs.open(path, 'wb');
    const first = handle.write('kept');
    const committed = handle.commit();
    const late = handle.write(' and late');
    await first;
    await committed;
    await expectFsError(late, FsError);
    expect(await h.readText(path)).toBe('kept');
  });

  test('abort leaves the old content, and a new path absent', async () => {
    const existing = await h.write('keep.txt', 'precious');
    const handle = await h.fs.open(existing, 'wb');
    await handle.write('garbage that must never appear');
    await handle.abort();
    expect(await h.readText(existing)).toBe('precious');
    await expectFsError(handle.write('more'), FsError);
    await expectFsError(handle.commit(), FsError);
    await handle.abort(); // idempotent

    const fresh = h.path('never.txt');
    const other = await h.fs.open(fresh, 'wb');
    await other.write(pseudoRandomBytes(50_000, 1));
    await other.abort();
    expect(await h.fs.exists(fresh)).toBe(false);
    expect((await h.fs.ls(h.dir)).map((e) => e.name)).toEqual([existing]);
  });

  test('dispose without commit leaves nothing (await using and Symbol.asyncDispose)', async () => {
    const existing = await h.write('survivor.txt', 'original');
    const fresh = h.path('ghost.txt');
    {
      await using handle = await h.fs.open(fresh, 'wb');
      await handle.write('never committed');
    }
    expect(await h.fs.exists(fresh)).toBe(false);
    const handle = await h.fs.open(existing, 'wb');
    await handle.write('never committed');
    await handle[Symbol.asyncDispose]();
    expect(await h.readText(existing)).toBe('original');
    // Disposing after commit keeps the commit.
    {
      await using committed = await h.fs.open(fresh, 'wb');
      await committed.write('kept');
      await committed.commit();
    }
    expect(await h.readText(fresh)).toBe('kept');
    expect((await h.fs.ls(h.dir)).map((e) => e.name)).toEqual([fresh, existing].sort());
  });

  test("open 'xb' on an existing path throws AlreadyExistsError and the old content survives", async () => {
    const path = await h.write('exclusive.txt', 'old');
    const attempt = async () => {
      const handle = await h.fs.open(path, 'xb');
      try {
        await handle.write('new');
        await handle.commit();
      } finally {
        await handle.abort();
      }
    };
    await expectFsError(attempt(), AlreadyExistsError);
    expect(await h.readText(path)).toBe('old');
  });

  test("open 'xb' creates a new file; the path appearing before commit makes commit fail", async () => {
    const path = h.path('xb-new.txt');
    const handle = await h.fs.open(path, 'xb');
    expect(handle.mode).toBe('create');
    await handle.write('mine');
    await h.fs.pipe(path, 'someone else');
    await expectFsError(handle.commit(), AlreadyExistsError);
    expect(await h.readText(path)).toBe('someone else');
    const second = h.path('xb-second.txt');
    const creator = await h.fs.open(second, 'xb');
    await creator.write('created');
    await creator.commit();
    expect(await h.readText(second)).toBe('created');
  }, { needs: ['conditionalCreate'] });

  test('racing xb writers on one new path: exactly one wins, the rest get AlreadyExistsError', async () => {
    const path = h.path('race.bin');
    const payloads = [0, 1, 2, 3, 4].map((i) => pseudoRandomBytes(20_000, 100 + i));
    const handles = await Promise.all(payloads.map(() => h.fs.open(path, 'xb')));
    await Promise.all(handles.map((handle, i) => handle.write(payloads[i]!)));
    const results = await Promise.allSettled(handles.map((handle) => handle.commit()));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
    expectSameBytes(await h.fs.cat(path), payloads[winners[0]!]!);
  }, { needs: ['conditionalCreate'] });

  test('concurrent writers to one path: the last commit wins and no torn file appears', async () => {
    const path = h.path('contended.bin');
    const writers = 4;
    const chunk = 32 * 1024;
    const payloads = Array.from({ length: writers }, (_, i) => pseudoRandomBytes(3 * chunk, 10 + i));
    const open = () => Promise.all(payloads.map(() => h.fs.open(path, 'wb')));
    // Interleave the writes chunk by chunk so a shared buffer or temp file would mix them.
    const interleave = async (handles: WriteHandle[]) => {
      for (let part = 0; part < 3; part++) {
        await Promise.all(handles.map((handle, i) => handle.write(payloads[i]!.subarray(part * chunk, (part + 1) * chunk))));
      }
    };
    const sequential = await open();
    await interleave(sequential);
    for (const handle of sequential) await handle.commit();
    expectSameBytes(await h.fs.cat(path), payloads[writers - 1]!, 'last sequential commit');

    const racing = await open();
    await interleave(racing);
    await Promise.all(racing.map((handle) => handle.commit()));
    const final = await h.fs.cat(path);
    const match = payloads.findIndex((p) => p.length === final.length && p.every((byte, i) => byte === final[i]));
    expect(match, 'content equals one writer’s full payload').toBeGreaterThanOrEqual(0);
  }, { needs: ['atomicCommit'] });

  test('a committed or failed handle refuses further writes and commits', async () => {
    const path = h.path('once.txt');
    const handle = await h.fs.open(path, 'wb');
    await handle.write('once');
    await handle.commit();
    await expectFsError(handle.write('twice'), FsError);
    await expectFsError(handle.commit(), FsError);
    await handle.abort(); // after commit: a no-op, the data stays
    expect(await h.readText(path)).toBe('once');
  });

  test('writing over a directory fails with IsADirectoryError and leaves it intact', async () => {
    await h.write('taken/child.txt', 'child');
    await expectFsError(h.fs.pipe(h.path('taken'), 'x'), IsADirectoryError);
    expect(await h.readText(h.path('taken/child.txt'))).toBe('child');
  }, { needs: ['emptyDirectories'] });
}
