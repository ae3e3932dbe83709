import { expect } from 'vitest';

import { IsADirectoryError } from '../../errors.js';
import { expectFsError, type CaseRegistrar, type Harness } from '../harness.js';

/**
 * Objects other tools write past Strata's path rules: zero-byte `dir/` directory markers (the AWS
 * console, s3fs/gcsfs mkdir, Azure Storage Explorer) and keys with an empty segment (`a//b`). They
 * come from the setup's `rawPut`; stores with real directories run the marker cases with mkdir,
 * so every backend is held to what local disk and memory do with an empty directory.
 */
export function registerForeignObjectCases(h: Harness, test: CaseRegistrar): void {
  test('directory markers other tools write are directories: info, isDir, ls, find and walk agree', async ({ skip }) => {
    await h.rawPut('m/empty/', '', skip);
    await h.rawPut('m/full/', '', skip);
    await h.rawPut('m/full/sub/', '', skip);
    await h.write('m/full/sub/f.txt', 'f');
    const entries = await h.fs.ls(h.path('m'));
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      [h.path('m/empty'), 'directory'],
      [h.path('m/full'), 'directory'],
    ]);
    // The marker-only ("empty") directory is one everywhere, not just in its parent's listing.
    expect(await h.fs.info(h.path('m/empty'))).toMatchObject({ name: h.path('m/empty'), type: 'directory' });
    expect(await h.fs.isDir(h.path('m/empty'))).toBe(true);
    expect(await h.fs.isFile(h.path('m/empty'))).toBe(false);
    expect(await h.fs.ls(h.path('m/empty'))).toEqual([]);
    expect(await h.fs.ls(`${h.path('m/empty')}/`)).toEqual([]);
    expect(await h.fs.find(h.path('m/empty'))).toEqual([]);
    expect(await h.fs.find(h.path('m/empty'), { withDirs: true })).toEqual([h.path('m/empty')]);
    await expectFsError(h.fs.cat(h.path('m/empty')), IsADirectoryError, 'cat of a marker-only directory');
    // Markers are never files, nor listed twice beside the prefix they share.
    expect((await h.fs.ls(h.path('m/full'))).map((e) => [e.name, e.type])).toEqual([[h.path('m/full/sub'), 'directory']]);
    expect(await h.fs.find(h.path('m'))).toEqual([h.path('m/full/sub/f.txt')]);
    expect(await h.fs.find(h.path('m'), { withDirs: true })).toEqual(
      ['m', 'm/empty', 'm/full', 'm/full/sub', 'm/full/sub/f.txt'].map((n) => h.path(n)),
    );
    const walked: string[] = [];
    for await (const { root, dirs, files } of h.fs.walk(h.path('m'))) walked.push(`${root} ${[...dirs].sort().join(',')} ${files.join(',')}`);
    expect(walked.sort()).toEqual(
      [`${h.path('m')} empty,full `, `${h.path('m/empty')}  `, `${h.path('m/full')} sub `, `${h.path('m/full/sub')}  f.txt`].sort(),
    );
  });

  test('rm -r removes directory markers with the files, so the directory is gone', async ({ skip }) => {
    await h.rawPut('r/empty/', '', skip);
    await h.rawPut('r/full/', '', skip);
    await h.rawPut('r/full/sub/', '', skip);
    await h.write('r/full/sub/f.txt', 'f');
    await h.write('r/keep.txt', 'k');
    await expectFsError(h.fs.rm(h.path('r/empty')), IsADirectoryError, 'rm of a marker-only directory without recursive');
    await h.fs.rm(h.path('r/full'), { recursive: true });
    expect(await h.fs.exists(h.path('r/full'))).toBe(false);
    expect(await h.fs.exists(h.path('r/full/sub'))).toBe(false);
    await h.fs.rm(h.path('r/empty'), { recursive: true });
    expect(await h.fs.exists(h.path('r/empty'))).toBe(false);
    expect(await h.fs.find(h.path('r'), { withDirs: true })).toEqual([h.path('r'), h.path('r/keep.txt')]);
  });

  test('a stored key with an empty segment (w//x) never lists the directory as its own child: ls, find, glob and walk stay below it', async ({ skip }) => {
    await h.rawPut('w//odd.txt', 'x', skip);
    await h.write('w/ok.txt', 'ok');
    expect((await h.fs.ls(h.path('w'))).map((e) => e.name)).toEqual([h.path('w/ok.txt')]);
    expect(await h.fs.find(h.path('w'), { withDirs: true })).toEqual([h.path('w'), h.path('w/ok.txt')]);
    expect(await h.fs.glob(`${h.path('w')}/**`)).toEqual([h.path('w'), h.path('w/ok.txt')]);
    const roots: string[] = [];
    for await (const { root } of h.fs.walk(h.path('w'))) {
      roots.push(root);
      if (roots.length > 5) break; // a walk into `w` itself would never end
    }
    expect(roots).toEqual([h.path('w')]);
  });
}
