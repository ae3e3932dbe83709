import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'vitest';

import { AbortError } from '../../errors.js';
import { expectFsError, type CaseRegistrar, type Harness } from '../harness.js';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Accents, CJK, emoji, spaces and characters URL code tends to mangle. */
const AWKWARD_NAMES = ['héllo wörld.txt', '日本語 ファイル.txt', 'emoji 🎉 party.txt', 'plus+sign & co.txt', '  leading spaces.txt', 'ünï cödé dir'];

export function registerRobustnessCases(h: Harness, test: CaseRegistrar): void {
  test('unicode and spaces in names survive every operation', async () => {
    const files = Object.fromEntries(AWKWARD_NAMES.map((name, i) => [name.endsWith('dir') ? `${name}/inner file.txt` : name, `content ${i}`]));
    const paths = await h.writeTree(files);
    for (const [relative, content] of Object.entries(files)) {
      expect(await h.readText(h.path(relative)), relative).toBe(content);
      expect((await h.fs.info(h.path(relative))).name).toBe(h.path(relative));
    }
    expect((await h.fs.ls(h.dir)).map((e) => e.name)).toEqual(AWKWARD_NAMES.map((n) => h.path(n)).sort(byCodeUnit));
    expect(await h.fs.find(h.dir)).toEqual([...paths].sort(byCodeUnit));
    expect(await h.fs.glob(h.path('*wörld*'))).toEqual([h.path('héllo wörld.txt')]);
    expect(await h.fs.glob(h.path('ünï cödé dir/*'))).toEqual([h.path('ünï cödé dir/inner file.txt')]);
    await h.fs.cp(h.path('日本語 ファイル.txt'), h.path('copié ✓.txt'));
    expect(await h.readText(h.path('copié ✓.txt'))).toBe('content 1');
    await h.fs.mv(h.path('emoji 🎉 party.txt'), h.path('moved 🎈.txt'));
    expect(await h.readText(h.path('moved 🎈.txt'))).toBe('content 2');
    const local = await h.localTempDir();
    await h.fs.get(h.path('ünï cödé dir'), join(local, 'got'), { recursive: true });
    expect(await readFile(join(local, 'got', 'inner file.txt'), 'utf8')).toBe('content 5');
    await h.fs.rm(h.path('ünï cödé dir'), { recursive: true });
    expect(await h.fs.exists(h.path('ünï cödé dir/inner file.txt'))).toBe(false);
    await h.fs.rm(h.path('plus+sign & co.txt'));
    expect(await h.fs.exists(h.path('plus+sign & co.txt'))).toBe(false);
    expect(await h.fs.exists(h.path('héllo wörld.txt'))).toBe(true);
  });

  test('an already-aborted signal stops every method with AbortError and changes nothing', async () => {
    const file = await h.write('file.txt', 'original');
    await h.write('dir/inner.txt', 'inner');
    const local = await h.localTempDir();
    await writeFile(join(local, 'up.txt'), 'upload');
    const signal = AbortSignal.abort();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['info', () => h.fs.info(file, { signal })],
      ['exists', () => h.fs.exists(file, { signal })],
      ['isFile', () => h.fs.isFile(file, { signal })],
      ['isDir', () => h.fs.isDir(file, { signal })],
      ['ls', () => h.fs.ls(h.dir, { signal })],
      ['find', () => h.fs.find(h.dir, { signal })],
      ['glob', () => h.fs.glob(h.path('*.txt'), { signal })],
      ['du', () => h.fs.du(h.dir, { signal })],
      ['walk', async () => {
        for await (const _ of h.fs.walk(h.dir, { signal })) void _;
      }],
      ['cat', () => h.fs.cat(file, { signal })],
      ['cat range', () => h.fs.cat(file, { start: 1, end: 3, signal })],
      ['catRanges', () => h.fs.catRanges([file], [0], [2], { signal })],
      ['pipe', () => h.fs.pipe(file, 'clobbered', { signal })],
      ['pipe new', () => h.fs.pipe(h.path('new.txt'), 'new', { signal })],
      ['open rb', () => h.fs.open(file, 'rb', { signal })],
      ['open wb', () => h.fs.open(h.path('new.txt'), 'wb', { signal })],
      ['put', () => h.fs.put(join(local, 'up.txt'), h.path('up.txt'), { signal })],
      ['get', () => h.fs.get(file, join(local, 'down.txt'), { signal })],
      ['cp', () => h.fs.cp(file, h.path('copy.txt'), { signal })],
      ['mv', () => h.fs.mv(file, h.path('moved.txt'), { signal })],
      ['rm', () => h.fs.rm(file, { signal })],
      ['rm -r', () => h.fs.rm(h.path('dir'), { recursive: true, signal })],
      ['mkdir', () => h.fs.mkdir(h.path('newdir'), { signal })],
      ['touch', () => h.fs.touch(h.path('touched.txt'), { signal })],
    ];
    for (const [name, call] of calls) {
      const error = await expectFsError(call(), AbortError, name);
      expect(error.code, name).toBe('EABORT');
    }
    expect(await h.readText(file)).toBe('original');
    expect(await h.fs.find(h.dir)).toEqual([h.path('dir/inner.txt'), file]);
    await expect(readFile(join(local, 'down.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a signal aborted mid-write fails the commit and leaves the target untouched', async () => {
    const path = await h.write('guarded.txt', 'before');
    const controller = new AbortController();
    const handle = await h.fs.open(path, 'wb', { signal: controller.signal });
    await handle.write('half of it');
    controller.abort();
    await expectFsError(
      (async () => {
        await handle.write('the rest');
        await handle.commit();
      })(),
      AbortError,
    );
    await handle.abort();
    expect(await h.readText(path)).toBe('before');
  });
}
