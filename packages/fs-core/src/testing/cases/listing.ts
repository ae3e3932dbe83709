import { expect } from 'vitest';

import { InvalidPathError, NotFoundError } from '../../errors.js';
import type { WalkEntry } from '../../types.js';
import { expectFsError, type CaseRegistrar, type Harness } from '../harness.js';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A small tree with a prefix trap: `a` vs `ab` vs `a.txt` must never be confused. */
const TREE: Record<string, string> = {
  'top.txt': 'top',
  'a.txt': 'a-file',
  'a/one.txt': '1',
  'a/two.bin': '22',
  'a/sub/three.txt': '333',
  'ab/four.txt': '4444',
};

async function collectWalk(entries: AsyncIterable<WalkEntry>): Promise<Map<string, { dirs: string[]; files: string[] }>> {
  const seen = new Map<string, { dirs: string[]; files: string[] }>();
  for await (const entry of entries) {
    expect(seen.has(entry.root), `walk visits ${entry.root} once`).toBe(false);
    seen.set(entry.root, { dirs: [...entry.dirs].sort(byCodeUnit), files: [...entry.files].sort(byCodeUnit) });
  }
  return seen;
}

export function registerListingCases(h: Harness, test: CaseRegistrar): void {
  test('ls lists direct children (files and directories) with full names, sorted', async () => {
    // Written in reverse order so an unsorted backend shows.
    const names = Object.keys(TREE).reverse();
    for (const name of names) await h.write(name, TREE[name]!);
    const entries = await h.fs.ls(h.dir);
    expect(entries.map((e) => e.name)).toEqual([h.path('a'), h.path('a.txt'), h.path('ab'), h.path('top.txt')]);
    expect(entries.map((e) => e.type)).toEqual(['directory', 'file', 'directory', 'file']);
    expect(entries.find((e) => e.name === h.path('a.txt'))?.size).toBe(6);
    const sub = await h.fs.ls(h.path('a'));
    expect(sub.map((e) => [e.name, e.type, e.type === 'file' ? e.size : 0])).toEqual([
      [h.path('a/one.txt'), 'file', 1],
      [h.path('a/sub'), 'directory', 0],
      [h.path('a/two.bin'), 'file', 2],
    ]);
    // A trailing slash changes nothing.
    expect((await h.fs.ls(`${h.path('a')}/`)).map((e) => e.name)).toEqual(sub.map((e) => e.name));
  });

  test('ls is sorted by name regardless of creation order', async () => {
    const names = ['m', 'b', 'z9', 'a', 'z10', 'k', 'b0', 'c', 'aa', 'y'];
    await h.writeTree(Object.fromEntries(names.map((n) => [`sorted/${n}.dat`, n])));
    const listed = (await h.fs.ls(h.path('sorted'))).map((e) => e.name);
    expect(listed).toEqual(names.map((n) => h.path(`sorted/${n}.dat`)).sort(byCodeUnit));
  });

  test('ls of a missing path throws NotFoundError', async () => {
    await h.write('exists.txt', 'x');
    await expectFsError(h.fs.ls(h.path('missing')), NotFoundError);
  });

  test('ls of a file lists the file itself', async () => {
    const path = await h.write('single.txt', 'abc');
    const entries = await h.fs.ls(path);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ name: path, type: 'file', size: 3 });
  });

  test('a listing and info give a file the same etag (one spelling, so either can be compared or sent in If-Match)', async () => {
    const path = await h.write('tagged/f.txt', 'abc');
    const { etag } = await h.fs.info(path);
    const listed = (await h.fs.ls(h.path('tagged'))).find((e) => e.name === path);
    expect(listed).toBeDefined();
    // Object stores always have one; a local disk may have none, and then neither call gives one.
    if (!h.fs.capabilities.emptyDirectories) expect(etag).toEqual(expect.any(String));
    expect(listed!.etag).toBe(etag);
  });

  test('find lists every file below, sorted, never a sibling sharing the prefix', async () => {
    await h.writeTree(TREE);
    expect(await h.fs.find(h.dir)).toEqual(Object.keys(TREE).map((n) => h.path(n)).sort(byCodeUnit));
    expect(await h.fs.find(h.path('a'))).toEqual([h.path('a/one.txt'), h.path('a/sub/three.txt'), h.path('a/two.bin')]);
  });

  test('find with withDirs adds directories, the searched one included; maxDepth limits the depth', async () => {
    await h.writeTree(TREE);
    expect(await h.fs.find(h.dir, { withDirs: true })).toEqual(
      [h.dir, ...[...Object.keys(TREE), 'a', 'a/sub', 'ab'].map((n) => h.path(n))].sort(byCodeUnit),
    );
    expect(await h.fs.find(h.dir, { maxDepth: 1 })).toEqual([h.path('a.txt'), h.path('top.txt')]);
    expect(await h.fs.find(h.dir, { maxDepth: 2 })).toEqual(
      ['a.txt', 'a/one.txt', 'a/two.bin', 'ab/four.txt', 'top.txt'].map((n) => h.path(n)),
    );
  });

  test('find with withDirs lists the searched directory itself, as fsspec does, but never a file or missing path twice', async () => {
    await h.writeTree(TREE);
    expect(await h.fs.find(h.path('a'), { withDirs: true })).toEqual(
      ['a', 'a/one.txt', 'a/sub', 'a/sub/three.txt', 'a/two.bin'].map((n) => h.path(n)),
    );
    expect(await h.fs.find(`${h.path('a')}/`, { withDirs: true })).toEqual(await h.fs.find(h.path('a'), { withDirs: true }));
    expect(await h.fs.find(h.path('a/sub'), { withDirs: true, maxDepth: 1 })).toEqual([h.path('a/sub'), h.path('a/sub/three.txt')]);
    expect(await h.fs.find(h.path('a'), { withDirs: true, maxDepth: 1 })).toEqual(
      ['a', 'a/one.txt', 'a/sub', 'a/two.bin'].map((n) => h.path(n)),
    );
    // A file is found as itself, once; a missing path finds nothing.
    expect(await h.fs.find(h.path('a.txt'), { withDirs: true })).toEqual([h.path('a.txt')]);
    expect(await h.fs.find(h.path('missing'), { withDirs: true })).toEqual([]);
    // Without withDirs the directory stays out.
    expect(await h.fs.find(h.path('a/sub'))).toEqual([h.path('a/sub/three.txt')]);
  });

  test('glob matches *, ?, [..] and ** and returns sorted paths', async () => {
    await h.writeTree({
      'g/file1.txt': '1',
      'g/file2.txt': '2',
      'g/file3.log': '3',
      'g/fileA.txt': 'A',
      'g/nested/deep/x.txt': 'x',
      'g/nested/y.txt': 'y',
      'g/nested/z.log': 'z',
      'other/w.txt': 'w',
    });
    const g = (p: string) => h.path(`g/${p}`);
    expect(await h.fs.glob(g('*.txt'))).toEqual([g('file1.txt'), g('file2.txt'), g('fileA.txt')]);
    expect(await h.fs.glob(g('file?.txt'))).toEqual([g('file1.txt'), g('file2.txt'), g('fileA.txt')]);
    expect(await h.fs.glob(g('file[12].*'))).toEqual([g('file1.txt'), g('file2.txt')]);
    expect(await h.fs.glob(g('file[!12].*'))).toEqual([g('file3.log'), g('fileA.txt')]);
    expect(await h.fs.glob(g('**/*.txt'))).toEqual([g('file1.txt'), g('file2.txt'), g('fileA.txt'), g('nested/deep/x.txt'), g('nested/y.txt')]);
    expect(await h.fs.glob(g('nested/**/*.log'))).toEqual([g('nested/z.log')]);
    expect(await h.fs.glob(g('*/y.txt'))).toEqual([g('nested/y.txt')]);
    expect(await h.fs.glob(g('*.none'))).toEqual([]);
    // No magic: the path itself if it exists.
    expect(await h.fs.glob(g('file1.txt'))).toEqual([g('file1.txt')]);
    expect(await h.fs.glob(g('missing.txt'))).toEqual([]);
  });

  test('glob: only *, ?, [..] and ** are special; ( ) { } + @ ! and the like are literal', async () => {
    const names = ['run(1)/f.txt', 'run1/f.txt', 'r/p(1).txt', 'r/p1.txt', 'r/y{a,b}.txt', 'r/ya.txt', 'r/x[1].txt', 'r/x1.txt', 'r/a+b@c!.txt', 'r/aab@c!.txt', 'r/!(x).txt'];
    await h.writeTree(Object.fromEntries(names.map((n) => [n, 'x'])));
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    expect(await glob('run(1)/*.txt')).toEqual(['run(1)/f.txt']);
    expect(await glob('r/*(1).txt')).toEqual(['r/p(1).txt']);
    expect(await glob('r/y{a,b}.txt')).toEqual(['r/y{a,b}.txt']);
    expect(await glob('r/y{a,b}*')).toEqual(['r/y{a,b}.txt']);
    expect(await glob('r/a+b@c!.*')).toEqual(['r/a+b@c!.txt']);
    expect(await glob('r/!(x).*')).toEqual(['r/!(x).txt']);
    // A bracket class is a class: it matches x1.txt, never the file literally named x[1].txt.
    expect(await glob('r/x[1].txt')).toEqual(['r/x1.txt']);
    expect(await glob('r/x[!1]*')).toEqual(['r/x[1].txt']); // '[' is not '1'
    expect(await glob('r/x?1?.txt')).toEqual(['r/x[1].txt']);
  });

  test('glob: dir/** includes dir itself, and a pattern ending in a slash matches directories only', async () => {
    await h.writeTree({ 'r/a.txt': 'a', 'r/sub/c.txt': 'c', 'r/sub/deep/d.txt': 'd', 'r/sib/e.txt': 'e' });
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    expect(await glob('r/**')).toEqual(['r', 'r/a.txt', 'r/sib', 'r/sib/e.txt', 'r/sub', 'r/sub/c.txt', 'r/sub/deep', 'r/sub/deep/d.txt']);
    expect(await glob('r/**/')).toEqual(['r', 'r/sib', 'r/sub', 'r/sub/deep']);
    expect(await glob('r/*/')).toEqual(['r/sib', 'r/sub']);
    expect(await glob('r/s*/')).toEqual(['r/sib', 'r/sub']);
    expect(await glob('r/*')).toEqual(['r/a.txt', 'r/sib', 'r/sub']);
    expect(await glob('r/**/*.txt')).toEqual(['r/a.txt', 'r/sib/e.txt', 'r/sub/c.txt', 'r/sub/deep/d.txt']);
    expect(await glob('r/*.txt/')).toEqual([]);
  });

  // fsspec appends a slash to directory names when the pattern ends in `/**`: `x/**` takes every
  // directory x matches, and a file only below one. Expected lists are fsspec 2026.9's.
  test('glob: <magic>/** includes the directories the magic segment matches; <file>/** matches nothing', async () => {
    await h.writeTree({ 't/c.bin': 'c', 't/d/x': 'x', 't/d/sub/y': 'y', 't/ab/z': 'z' });
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    expect(await glob('t/*/**')).toEqual(['t/ab', 't/ab/z', 't/d', 't/d/sub', 't/d/sub/y', 't/d/x']);
    expect(await glob('t/a*/**')).toEqual(['t/ab', 't/ab/z']);
    expect(await glob('t/*/**/')).toEqual(['t/ab', 't/d', 't/d/sub']);
    expect(await glob('t/*/**/y')).toEqual(['t/d/sub/y']);
    expect(await glob('t/c.bin/**')).toEqual([]);
    expect(await glob('t/c.bin/**/')).toEqual([]);
    expect(await glob('t/c.bin/*')).toEqual([]);
  });

  test('glob: <magic>/** includes an empty directory the magic segment matches', async () => {
    await h.write('t/d/x', 'x');
    await h.fs.mkdir(h.path('t/empty'));
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    expect(await glob('t/*/**')).toEqual(['t/d', 't/d/x', 't/empty']);
    expect(await glob('t/e*/**')).toEqual(['t/empty']);
    expect(await glob('t/**')).toEqual(['t', 't/d', 't/d/x', 't/empty']);
  }, { needs: ['emptyDirectories'] });

  test('glob: ** and * match names holding line breaks (\\n, \\r, U+2028), as fsspec\'s (?s:...) does', async ({ skip }) => {
    const names = ['n/a\nb/f.txt', 'n/c\rd.txt', 'n/e\u2028f/g.txt', 'n/plain.txt'];
    for (const name of names) {
      // GCS refuses CR and LF in object names; what a store cannot hold is not glob's to match.
      await h.write(name, 'x').catch(() => skip(`the store refuses the name ${JSON.stringify(name)}`));
    }
    expect(await h.fs.find(h.path('n'))).toHaveLength(names.length);
    // Compared with what find lists, not with the names written: Azure's SDK lists `c\rd.txt` as
    // `c&#xD;d.txt` (its XML parser leaves the character reference), which is no matter of glob's.
    expect(await h.fs.glob(h.path('n/**'))).toEqual(await h.fs.find(h.path('n'), { withDirs: true }));
    expect(await h.fs.glob(h.path('n/**/*.txt'))).toEqual(await h.fs.find(h.path('n')));
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    expect(await glob('n/*/**')).toEqual(['n/a\nb', 'n/a\nb/f.txt', 'n/e\u2028f', 'n/e\u2028f/g.txt']);
    expect(await glob('n/**/f.txt')).toEqual(['n/a\nb/f.txt']);
    expect(await glob('n/?\n?/**')).toEqual(['n/a\nb', 'n/a\nb/f.txt']);
  });

  test('glob: ?, * and [..] take whole characters, emoji included; listings sort by code point (UTF-8 order)', async () => {
    await h.writeTree({ 'u/a.txt': '1', 'u/é.txt': '2', 'u/ｚ.txt': '3', 'u/😀.txt': '4', 'u/😀😀.txt': '5' });
    const glob = async (pattern: string) => (await h.fs.glob(h.path(pattern))).map((p) => p.slice(h.dir.length + 1));
    // U+FF5A (ｚ) sorts before U+1F600 (😀) by code point, though not by UTF-16 unit.
    const single = ['u/a.txt', 'u/é.txt', 'u/ｚ.txt', 'u/😀.txt'];
    expect(await glob('u/?.txt')).toEqual(single);
    expect(await glob('u/??.txt')).toEqual(['u/😀😀.txt']);
    expect(await glob('u/[😀].txt')).toEqual(['u/😀.txt']);
    expect(await glob('u/[!a].txt')).toEqual(single.slice(1));
    expect(await glob('u/[😀-😂]*')).toEqual(['u/😀.txt', 'u/😀😀.txt']);
    expect((await h.fs.find(h.path('u'))).map((p) => p.slice(h.dir.length + 1))).toEqual([...single, 'u/😀😀.txt']);
    expect((await h.fs.ls(h.path('u'))).map((e) => e.name.slice(h.dir.length + 1))).toEqual([...single, 'u/😀😀.txt']);
  });

  test("glob: '**' inside a segment is InvalidPathError, as fsspec raises", async () => {
    await h.writeTree({ 'd/f.txt': 'f', 'd/sub/g.txt': 'g' });
    for (const pattern of ['d/s**', 'd/**.txt', 'd/***']) await expectFsError(h.fs.glob(h.path(pattern)), InvalidPathError);
  });

  test('find, glob, walk and du below a file find nothing, as exists says (fsspec: [] and 0)', async () => {
    await h.write('t/a.txt', 'a');
    const below = h.path('t/a.txt/x');
    expect(await h.fs.exists(below)).toBe(false);
    expect(await h.fs.find(below)).toEqual([]);
    expect(await h.fs.find(below, { withDirs: true })).toEqual([]);
    expect(await h.fs.glob(h.path('t/a.txt/*'))).toEqual([]);
    expect(await h.fs.glob(h.path('t/a.txt/x/*/'))).toEqual([]);
    expect(await h.fs.du(below)).toBe(0);
    const walked: WalkEntry[] = [];
    for await (const entry of h.fs.walk(below)) walked.push(entry);
    expect(walked).toEqual([]);
  });

  test('walk of a missing path yields nothing, as in fsspec', async () => {
    await h.write('present.txt', 'x');
    const walked: WalkEntry[] = [];
    for await (const entry of h.fs.walk(h.path('missing'))) walked.push(entry);
    for await (const entry of h.fs.walk(h.path('missing/deeper'), { maxDepth: 2 })) walked.push(entry);
    expect(walked).toEqual([]);
  });

  test('find, glob, du and walk of a missing bucket throw NotFoundError, as ls does; a missing prefix finds nothing', async () => {
    await h.write('present.txt', 'x');
    const bucket = `strata-missing-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const walk = async (path: string) => {
      const walked: WalkEntry[] = [];
      for await (const entry of h.fs.walk(path)) walked.push(entry);
      return walked;
    };
    for (const path of [bucket, `${bucket}/dir`]) {
      await expectFsError(h.fs.ls(path), NotFoundError, `ls ${path}`);
      await expectFsError(h.fs.find(path), NotFoundError, `find ${path}`);
      await expectFsError(h.fs.find(path, { withDirs: true }), NotFoundError, `find withDirs ${path}`);
      await expectFsError(h.fs.glob(`${path}/*`), NotFoundError, `glob ${path}/*`);
      await expectFsError(h.fs.glob(`${path}/**`), NotFoundError, `glob ${path}/**`);
      await expectFsError(h.fs.glob(`${path}/file.txt`), NotFoundError, `glob ${path}/file.txt`);
      await expectFsError(h.fs.du(path), NotFoundError, `du ${path}`);
      await expectFsError(walk(path), NotFoundError, `walk ${path}`);
    }
    // In a bucket that exists, a missing prefix is nothing, as in fsspec.
    const missing = h.path('missing');
    expect([await h.fs.find(missing), await h.fs.glob(`${missing}/*`), await h.fs.glob(missing), await h.fs.du(missing), await walk(missing)]).toEqual([[], [], [], 0, []]);
  }, { without: ['emptyDirectories'] });

  test('walk yields each directory once with its dirs and files; maxDepth stops descent', async () => {
    await h.writeTree(TREE);
    const seen = await collectWalk(h.fs.walk(h.dir));
    expect([...seen.keys()].sort(byCodeUnit)).toEqual([h.dir, h.path('a'), h.path('a/sub'), h.path('ab')].sort(byCodeUnit));
    expect(seen.get(h.dir)).toEqual({ dirs: ['a', 'ab'], files: ['a.txt', 'top.txt'] });
    expect(seen.get(h.path('a'))).toEqual({ dirs: ['sub'], files: ['one.txt', 'two.bin'] });
    expect(seen.get(h.path('a/sub'))).toEqual({ dirs: [], files: ['three.txt'] });
    const shallow = await collectWalk(h.fs.walk(h.dir, { maxDepth: 1 }));
    expect([...shallow.keys()]).toEqual([h.dir]);
  });

  test('walk and find refuse a maxDepth below 1 with InvalidPathError, as fsspec raises', async () => {
    await h.writeTree(TREE);
    for (const maxDepth of [0, -1, Number.NaN]) {
      await expectFsError(collectWalk(h.fs.walk(h.dir, { maxDepth })), InvalidPathError, `walk maxDepth ${maxDepth}`);
      await expectFsError(h.fs.find(h.dir, { maxDepth }), InvalidPathError, `find maxDepth ${maxDepth}`);
    }
  });

  test('du sums the bytes of every file below a path', async () => {
    await h.writeTree(TREE);
    const total = Object.values(TREE).reduce((n, v) => n + v.length, 0);
    expect(await h.fs.du(h.dir)).toBe(total);
    expect(await h.fs.du(h.path('a'))).toBe(1 + 2 + 3);
    expect(await h.fs.du(h.path('a.txt'))).toBe(6);
  });

  test('1,050-entry directory: ls, find, glob and du see every entry, sorted', async () => {
    // Past 1,000 so listings must follow continuation tokens on object stores.
    const count = 1050;
    const files: Record<string, string> = {};
    for (let i = 0; i < count; i++) files[`many/f${String(i).padStart(4, '0')}.txt`] = String(i);
    await h.writeTree(files, 64);
    const expected = Object.keys(files).map((n) => h.path(n)).sort(byCodeUnit);
    const listed = await h.fs.ls(h.path('many'));
    expect(listed).toHaveLength(count);
    expect(listed.map((e) => e.name)).toEqual(expected);
    expect(await h.fs.find(h.path('many'))).toEqual(expected);
    expect(await h.fs.glob(h.path('many/f1*.txt'))).toHaveLength(50);
    expect(await h.fs.du(h.path('many'))).toBe(Object.values(files).reduce((n, v) => n + v.length, 0));
  }, { timeoutFactor: 2 });

  test('deep trees: every level is a directory, and find, walk, cp and rm reach the bottom', async () => {
    const levels = Array.from({ length: 12 }, (_, i) => `d${i}`);
    const deepDir = levels.join('/');
    await h.writeTree({ [`deep/${deepDir}/bottom.txt`]: 'bottom', [`deep/${levels.slice(0, 6).join('/')}/middle.txt`]: 'middle' });
    for (let i = 1; i <= levels.length; i++) {
      expect((await h.fs.info(h.path(`deep/${levels.slice(0, i).join('/')}`))).type).toBe('directory');
    }
    expect(await h.fs.find(h.path('deep'))).toEqual(
      [h.path(`deep/${levels.slice(0, 6).join('/')}/middle.txt`), h.path(`deep/${deepDir}/bottom.txt`)].sort(byCodeUnit),
    );
    const walked = await collectWalk(h.fs.walk(h.path('deep')));
    expect(walked.size).toBe(levels.length + 1);
    expect(walked.get(h.path(`deep/${deepDir}`))).toEqual({ dirs: [], files: ['bottom.txt'] });
    await h.fs.cp(h.path('deep'), h.path('copy'), { recursive: true });
    expect(await h.readText(h.path(`copy/${deepDir}/bottom.txt`))).toBe('bottom');
    await h.fs.rm(h.path('deep'), { recursive: true });
    expect(await h.fs.exists(h.path('deep'))).toBe(false);
    expect(await h.fs.find(h.path('copy'))).toHaveLength(2);
  });
}
