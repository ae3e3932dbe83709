import { mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import { expect } from 'vitest';

import { FsError, InvalidPathError, IsADirectoryError, NotFoundError } from '../../errors.js';
import { expectFsError, expectSameBytes, expectSaneProgress, pseudoRandomBytes, type CaseRegistrar, type Harness } from '../harness.js';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Files below a local directory, relative and sorted. */
async function localFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort(byCodeUnit);
}

/** A local source tree for put: nested, with an empty file and a name with a space. */
async function makeLocalTree(root: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    'one.txt': new TextEncoder().encode('one'),
    'nested/two.bin': pseudoRandomBytes(70_000, 2),
    'nested/deeper/three.txt': new TextEncoder().encode('three'),
    'nested/empty.txt': new Uint8Array(0),
    'with space.txt': new TextEncoder().encode('spaced'),
  };
  for (const [relative, data] of Object.entries(files)) {
    await mkdir(join(root, relative, '..'), { recursive: true });
    await writeFile(join(root, relative), data);
  }
  return files;
}

export function registerTransferCases(h: Harness, test: CaseRegistrar): void {
  /* ------------------------------ put / get ------------------------------ */

  test('put and get a single file round-trip the bytes', async () => {
    const local = await h.localTempDir();
    const payload = pseudoRandomBytes(123_457, 5);
    await writeFile(join(local, 'source.bin'), payload);
    const remote = h.path('up/loaded.bin');
    await h.fs.put(join(local, 'source.bin'), remote);
    expectSameBytes(await h.fs.cat(remote), payload, 'after put');
    await h.fs.get(remote, join(local, 'back.bin'));
    expectSameBytes(new Uint8Array(await readFile(join(local, 'back.bin'))), payload, 'after get');
  });

  test('a put that fails stops: once it rejects, nothing more lands at the destination', async () => {
    const local = await h.localTempDir();
    await mkdir(join(local, 'src'));
    const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, '0')}.bin`);
    for (const name of names) await writeFile(join(local, 'src', name), 'x');
    const target = h.path('failed-put');
    let removed = false;
    const put = h.fs.put(join(local, 'src'), target, {
      recursive: true,
      concurrency: 2,
      onProgress: () => {
        // One source file vanishes once copying is under way: the put fails on it.
        if (!removed) void unlinkQuietly(join(local, 'src', 'f05.bin'));
        removed = true;
      },
    });
    await expectFsError(put, NotFoundError);
    const landed = (await h.fs.find(target)).length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await h.fs.find(target)).length, 'files written after put rejected').toBe(landed);
    expect(landed).toBeLessThan(names.length);
  });

  test('put and get report progress for empty files too', async () => {
    const local = await h.localTempDir();
    await writeFile(join(local, 'empty.bin'), '');
    const calls: Array<[number, number]> = [];
    await h.fs.put(join(local, 'empty.bin'), h.path('empty-up.bin'), { onProgress: (done, total) => calls.push([done, total]) });
    expectSaneProgress(calls, 0);
    calls.length = 0;
    await h.fs.get(h.path('empty-up.bin'), join(local, 'empty-back.bin'), { onProgress: (done, total) => calls.push([done, total]) });
    expectSaneProgress(calls, 0);
  });

  test('put and get with a trailing slash on the target land inside it, by name', async () => {
    const local = await h.localTempDir();
    await writeFile(join(local, 'a.txt'), 'A');
    await h.fs.put(join(local, 'a.txt'), `${h.path('into')}/`);
    expect(await h.readText(h.path('into/a.txt'))).toBe('A');
    await mkdir(join(local, 'down'));
    await h.fs.get(h.path('into/a.txt'), `${join(local, 'down')}/`);
    expect(await readFile(join(local, 'down', 'a.txt'), 'utf8')).toBe('A');
  });

  test('put recursive: into a new path copies the contents; into an existing one nests by name', async () => {
    const local = await h.localTempDir();
    const source = join(local, 'src');
    const files = await makeLocalTree(source);
    const calls: Array<[number, number]> = [];
    await h.fs.put(source, h.path('fresh'), { recursive: true, onProgress: (d, t) => calls.push([d, t]) });
    expect(await h.fs.find(h.path('fresh'))).toEqual(Object.keys(files).map((n) => h.path(`fresh/${n}`)).sort(byCodeUnit));
    for (const [relative, data] of Object.entries(files)) expectSameBytes(await h.fs.cat(h.path(`fresh/${relative}`)), data, relative);
    expectSaneProgress(calls, Object.values(files).reduce((n, d) => n + d.length, 0));

    await h.write('existing/keep.txt', 'keep');
    await h.fs.put(source, h.path('existing'), { recursive: true });
    expect(await h.fs.find(h.path('existing'))).toEqual(
      [h.path('existing/keep.txt'), ...Object.keys(files).map((n) => h.path(`existing/src/${n}`))].sort(byCodeUnit),
    );
  });

  test('get recursive: into a new local directory copies the contents; into an existing one nests by name', async () => {
    const files = { 'one.txt': 'one', 'sub/two.txt': 'two', 'sub/deep/three.txt': 'three' };
    await h.writeTree(Object.fromEntries(Object.entries(files).map(([n, v]) => [`remote/${n}`, v])));
    const local = await h.localTempDir();
    const calls: Array<[number, number]> = [];
    await h.fs.get(h.path('remote'), join(local, 'fresh'), { recursive: true, onProgress: (d, t) => calls.push([d, t]) });
    expect(await localFiles(join(local, 'fresh'))).toEqual(Object.keys(files).sort(byCodeUnit));
    for (const [relative, value] of Object.entries(files)) expect(await readFile(join(local, 'fresh', relative), 'utf8')).toBe(value);
    expectSaneProgress(calls, 3 + 3 + 5);

    await mkdir(join(local, 'existing'));
    await h.fs.get(h.path('remote'), join(local, 'existing'), { recursive: true });
    expect(await localFiles(join(local, 'existing'))).toEqual(Object.keys(files).map((n) => `remote/${n}`).sort(byCodeUnit));
  });

  test('put and get resolve a relative local path against the working directory, as urlToFs does', async () => {
    const local = await h.localTempDir();
    await writeFile(join(local, 'rel.txt'), 'relative');
    const relativeDir = relative(process.cwd(), local);
    expect(relativeDir.startsWith('/')).toBe(false);
    await h.fs.put(join(relativeDir, 'rel.txt'), h.path('up.txt'));
    expect(await h.readText(h.path('up.txt'))).toBe('relative');
    await h.fs.get(h.path('up.txt'), join(relativeDir, 'down.txt'));
    expect(await readFile(join(local, 'down.txt'), 'utf8')).toBe('relative');
    // A trailing slash still means "into".
    await mkdir(join(local, 'into'));
    await h.fs.get(h.path('up.txt'), `${join(relativeDir, 'into')}/`);
    expect(await readFile(join(local, 'into', 'up.txt'), 'utf8')).toBe('relative');
  });

  test('put or get of a directory without recursive is refused', async () => {
    const local = await h.localTempDir();
    await makeLocalTree(join(local, 'tree'));
    await expectFsError(h.fs.put(join(local, 'tree'), h.path('nope')), IsADirectoryError);
    expect(await h.fs.exists(h.path('nope'))).toBe(false);
    await h.write('remote/x.txt', 'x');
    await expectFsError(h.fs.get(h.path('remote'), join(local, 'out')), IsADirectoryError);
  });

  /* ------------------------------ cp ------------------------------ */

  test('cp copies a file and leaves the source; copying onto a file replaces it', async () => {
    const payload = pseudoRandomBytes(90_000, 9);
    const src = await h.write('src.bin', payload);
    const dst = await h.write('dst.bin', 'to be replaced');
    await h.fs.cp(src, dst);
    expectSameBytes(await h.fs.cat(dst), payload);
    expectSameBytes(await h.fs.cat(src), payload);
    await h.fs.cp(src, h.path('new/place.bin'));
    expectSameBytes(await h.fs.cat(h.path('new/place.bin')), payload);
  });

  test('cp a file to dir/ or to an existing directory lands inside it, by name', async () => {
    const src = await h.write('a.txt', 'A');
    await h.fs.cp(src, `${h.path('slash')}/`);
    expect(await h.readText(h.path('slash/a.txt'))).toBe('A');
    await h.write('existing/other.txt', 'o');
    await h.fs.cp(src, h.path('existing'));
    expect(await h.readText(h.path('existing/a.txt'))).toBe('A');
    expect(await h.fs.isFile(h.path('existing'))).toBe(false);
  });

  test('cp -r: into a new path copies the contents; into an existing one nests by name (like cp -r)', async () => {
    const files = { 'one.txt': '1', 'sub/two.txt': '22', 'sub/deep/three.txt': '333' };
    await h.writeTree(Object.fromEntries(Object.entries(files).map(([n, v]) => [`src/${n}`, v])));
    const calls: Array<[number, number]> = [];
    await h.fs.cp(h.path('src'), h.path('dst'), { recursive: true, onProgress: (d, t) => calls.push([d, t]) });
    expect(await h.fs.find(h.path('dst'))).toEqual(Object.keys(files).map((n) => h.path(`dst/${n}`)).sort(byCodeUnit));
    expectSaneProgress(calls, 6);
    // dst exists now: a second copy goes to dst/src.
    await h.fs.cp(h.path('src'), h.path('dst'), { recursive: true });
    expect(await h.fs.find(h.path('dst/src'))).toEqual(Object.keys(files).map((n) => h.path(`dst/src/${n}`)).sort(byCodeUnit));
    expect(await h.readText(h.path('dst/src/sub/deep/three.txt'))).toBe('333');
    // The source is untouched.
    expect(await h.fs.find(h.path('src'))).toEqual(Object.keys(files).map((n) => h.path(`src/${n}`)).sort(byCodeUnit));
  });

  test('cp of a directory without recursive is refused; cp of a missing path is NotFoundError', async () => {
    await h.write('src/x.txt', 'x');
    await expectFsError(h.fs.cp(h.path('src'), h.path('dst')), IsADirectoryError);
    expect(await h.fs.exists(h.path('dst'))).toBe(false);
    await expectFsError(h.fs.cp(h.path('missing'), h.path('dst')), NotFoundError);
  });

  /* ------------------------------ mv ------------------------------ */

  test('mv moves a file: the source is gone, the target has the bytes', async () => {
    const payload = pseudoRandomBytes(40_000, 4);
    const src = await h.write('from.bin', payload);
    await h.fs.mv(src, h.path('to/moved.bin'));
    expect(await h.fs.exists(src)).toBe(false);
    expectSameBytes(await h.fs.cat(h.path('to/moved.bin')), payload);
    await h.fs.mv(h.path('to/moved.bin'), `${h.path('slash')}/`);
    expectSameBytes(await h.fs.cat(h.path('slash/moved.bin')), payload);
    const target = await h.write('target.bin', 'old');
    await h.fs.mv(h.path('slash/moved.bin'), target);
    expectSameBytes(await h.fs.cat(target), payload);
  });

  test('mv -r moves a whole tree; without recursive a directory is refused', async () => {
    const files = { 'a.txt': 'a', 'sub/b.txt': 'bb', 'sub/deep/c.txt': 'ccc' };
    await h.writeTree(Object.fromEntries(Object.entries(files).map(([n, v]) => [`tree/${n}`, v])));
    await expectFsError(h.fs.mv(h.path('tree'), h.path('moved')), IsADirectoryError);
    expect(await h.fs.find(h.path('tree'))).toHaveLength(3);
    await h.fs.mv(h.path('tree'), h.path('moved'), { recursive: true });
    expect(await h.fs.exists(h.path('tree'))).toBe(false);
    expect(await h.fs.find(h.path('moved'))).toEqual(Object.keys(files).map((n) => h.path(`moved/${n}`)).sort(byCodeUnit));
    expect(await h.readText(h.path('moved/sub/deep/c.txt'))).toBe('ccc');
  });

  test('mv -r onto or into a non-empty directory merges, as cp -r then rm -r does', async () => {
    await h.writeTree({ 'src/a.txt': 'A', 'src/sub/b.txt': 'B', 'dst/keep.txt': 'K', 'dst/a.txt': 'old' });
    // A trailing slash on the source: its contents go into dst, replacing a file of the same name.
    await h.fs.mv(`${h.path('src')}/`, h.path('dst'), { recursive: true });
    expect(await h.fs.exists(h.path('src'))).toBe(false);
    expect(await h.fs.find(h.path('dst'))).toEqual(['dst/a.txt', 'dst/keep.txt', 'dst/sub/b.txt'].map((n) => h.path(n)));
    expect(await h.readText(h.path('dst/a.txt'))).toBe('A');
    // Into an existing directory by name, where a non-empty one of that name is already inside.
    await h.writeTree({ 'more/x.txt': 'X', 'nest/more/y.txt': 'Y' });
    await h.fs.mv(h.path('more'), h.path('nest'), { recursive: true });
    expect(await h.fs.exists(h.path('more'))).toBe(false);
    expect(await h.fs.find(h.path('nest'))).toEqual([h.path('nest/more/x.txt'), h.path('nest/more/y.txt')]);
  });

  test('mv onto itself keeps the data; mv of a directory into itself is refused and changes nothing', async () => {
    const file = await h.write('self/f.txt', 'precious');
    await h.fs.mv(file, file);
    await h.fs.mv(file, `${h.path('self')}/`);
    await h.fs.mv(file, h.path('self'));
    expect(await h.readText(file)).toBe('precious');
    await h.writeTree({ 'tree/a.txt': 'A', 'tree/sub/b.txt': 'B' });
    // An existing directory as the target receives the source by name, so these are both "into itself" (as mv says).
    await expectFsError(h.fs.mv(h.path('tree'), h.path('tree'), { recursive: true }), InvalidPathError);
    await expectFsError(h.fs.mv(h.path('tree'), h.path('tree/sub'), { recursive: true }), InvalidPathError);
    expect(await h.fs.find(h.path('tree'))).toEqual([h.path('tree/a.txt'), h.path('tree/sub/b.txt')]);
  });

  /* ------------------------------ rm ------------------------------ */

  test('rm removes one file and nothing else', async () => {
    await h.writeTree({ 'a.txt': 'a', 'a.txt.bak': 'b', 'b.txt': 'c' });
    await h.fs.rm(h.path('a.txt'));
    expect(await h.fs.exists(h.path('a.txt'))).toBe(false);
    expect(await h.fs.find(h.dir)).toEqual([h.path('a.txt.bak'), h.path('b.txt')]);
  });

  test('rm of a missing path throws NotFoundError', async () => {
    await h.write('present.txt', 'x');
    await expectFsError(h.fs.rm(h.path('absent.txt')), NotFoundError);
    await expectFsError(h.fs.rm(h.path('absent'), { recursive: true }), NotFoundError);
  });

  test('rm of a directory needs recursive; rm -r removes the tree and not a sibling sharing the prefix', async () => {
    await h.writeTree({ 'd/x.txt': 'x', 'd/sub/y.txt': 'y', 'd.txt': 'keep', 'dd/z.txt': 'keep' });
    const refused = await expectFsError(h.fs.rm(h.path('d')), FsError);
    expect(refused.code).toBe('EISDIR');
    expect(await h.fs.find(h.path('d'))).toHaveLength(2);
    await h.fs.rm(h.path('d'), { recursive: true });
    expect(await h.fs.exists(h.path('d'))).toBe(false);
    expect(await h.fs.find(h.dir)).toEqual([h.path('d.txt'), h.path('dd/z.txt')]);
  });

  test('rm -r of many files, with a concurrency limit, leaves nothing', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 120; i++) files[`bulk/${i % 4}/f${i}.txt`] = 'x'.repeat(i);
    await h.writeTree(files);
    await h.fs.rm(h.path('bulk'), { recursive: true, concurrency: 8 });
    expect(await h.fs.exists(h.path('bulk'))).toBe(false);
    expect(await h.fs.find(h.dir)).toEqual([]);
  });

  /* ------------------------------ mkdir / touch ------------------------------ */

  test('touch creates an empty file and leaves an existing file’s content alone', async () => {
    const path = h.path('touched/new.txt');
    await h.fs.touch(path);
    expect(await h.fs.info(path)).toMatchObject({ type: 'file', size: 0 });
    const existing = await h.write('full.txt', 'content');
    await h.fs.touch(existing);
    expect(await h.readText(existing)).toBe('content');
  });

  test('mkdir succeeds (nested, parents by default) and files can be written inside', async () => {
    await h.fs.mkdir(h.path('made/nested/deep'));
    await h.fs.mkdir(h.path('made/nested/deep')); // again: fine with parents
    await h.write('made/nested/deep/f.txt', 'f');
    expect(await h.readText(h.path('made/nested/deep/f.txt'))).toBe('f');
  });

  test('mkdir makes an empty directory that info, ls, find, walk and rm see', async () => {
    await h.fs.mkdir(h.path('empty/inner'));
    expect(await h.fs.isDir(h.path('empty/inner'))).toBe(true);
    expect(await h.fs.ls(h.path('empty/inner'))).toEqual([]);
    expect((await h.fs.ls(h.path('empty'))).map((e) => [e.name, e.type])).toEqual([[h.path('empty/inner'), 'directory']]);
    expect(await h.fs.find(h.dir)).toEqual([]);
    expect(await h.fs.find(h.dir, { withDirs: true })).toEqual([h.dir, h.path('empty'), h.path('empty/inner')]);
    expect(await h.fs.find(h.path('empty/inner'), { withDirs: true })).toEqual([h.path('empty/inner')]);
    const walked: string[] = [];
    for await (const entry of h.fs.walk(h.dir)) walked.push(entry.root);
    expect(walked.sort(byCodeUnit)).toEqual([h.dir, h.path('empty'), h.path('empty/inner')]);
    await h.fs.mkdir(h.path('flat'), { parents: false });
    expect(await h.fs.isDir(h.path('flat'))).toBe(true);
    await expectFsError(h.fs.mkdir(h.path('no/parent'), { parents: false }), NotFoundError);
    await h.fs.rm(h.path('empty'), { recursive: true });
    expect(await h.fs.exists(h.path('empty'))).toBe(false);
  }, { needs: ['emptyDirectories'] });

  test('rm -r removes empty subdirectories too', async () => {
    await h.fs.mkdir(h.path('tree/empty/deeper'));
    await h.write('tree/file.txt', 'x');
    await h.fs.rm(h.path('tree'), { recursive: true });
    expect(await h.fs.exists(h.path('tree'))).toBe(false);
    expect(await h.fs.ls(h.dir)).toEqual([]);
  }, { needs: ['emptyDirectories'] });
}

function unlinkQuietly(path: string): Promise<void> {
  return unlink(path).catch(() => undefined);
}
