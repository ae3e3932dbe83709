/**
 * `filesystem('file', { root })` is a jail: `..`, absolute paths and symlinks must never reach
 * outside it, for reads, writes, listings, copies, moves and removals.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { filesystem, FsError, InvalidPathError, NotFoundError, PermissionDeniedError, urlToFs, type FileSystem } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const refused = (error: unknown) => error instanceof InvalidPathError || error instanceof PermissionDeniedError;

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    const value = await promise;
    return { resolved: value };
  } catch (error) {
    return error;
  }
}

describe('local root confinement', () => {
  let base: string;
  let root: string;
  let outside: string;
  let fs: FileSystem;
  const secret = 'outside secret';

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'strata-jail-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'inside-dir'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'secret.txt'), secret);
    await writeFile(join(root, 'etc', 'passwd'), 'jailed passwd');
    await writeFile(join(root, 'inside-dir', 'ok.txt'), 'inside');
    // Links out of the jail: absolute, relative, to a file, to a directory, and a chain.
    await symlink(join(outside, 'secret.txt'), join(root, 'abs-file-link'));
    await symlink('../outside/secret.txt', join(root, 'rel-file-link'));
    await symlink(outside, join(root, 'dir-link'));
    await symlink('../../outside', join(root, 'inside-dir', 'nested-dir-link'));
    await symlink('dir-link', join(root, 'chain-link'));
    await symlink(join(outside, 'not-yet-there.txt'), join(root, 'dangling-out'));
    // A link that stays inside is fine.
    await symlink('inside-dir/ok.txt', join(root, 'inside-link'));
    fs = await filesystem('file', { root });
  });

  afterAll(async () => {
    await fs?.close();
    await rm(base, { recursive: true, force: true });
  });

  const outsideUntouched = async () => {
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe(secret);
    expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
  };

  it('`..` above the root is refused in every spelling', async () => {
    for (const path of ['..', '../outside/secret.txt', '/../outside/secret.txt', 'inside-dir/../../outside/secret.txt', 'file://../outside/secret.txt', '/inside-dir/../..']) {
      const error = await failure(fs.cat(path));
      expect(refused(error), `${path}: ${String(error)}`).toBe(true);
    }
  });

  it('absolute paths mean paths below the root, never the real /', async () => {
    expect(new TextDecoder().decode(await fs.cat('/etc/passwd'))).toBe('jailed passwd');
    expect(new TextDecoder().decode(await fs.cat('file:///etc/passwd'))).toBe('jailed passwd');
    expect(await fs.exists(join(outside, 'secret.txt'))).toBe(false);
    await expect(fs.info('/proc/self/environ')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('symlinks leading out are refused for reads, info, open and through a linked directory', async () => {
    for (const path of ['abs-file-link', 'rel-file-link', 'dir-link/secret.txt', 'inside-dir/nested-dir-link/secret.txt', 'chain-link/secret.txt']) {
      for (const [what, op] of [
        ['cat', () => fs.cat(path)],
        ['info', () => fs.info(path)],
        ['open', () => fs.open(path, 'rb')],
        ['cat range', () => fs.cat(path, { start: 0, end: 3 })],
      ] as const) {
        const error = await failure(op());
        expect(refused(error), `${what} ${path}: ${String(error instanceof Error ? error.message : JSON.stringify(error))}`).toBe(true);
      }
    }
  });

  it('writes through links leading out are refused and create nothing outside', async () => {
    for (const path of ['abs-file-link', 'rel-file-link', 'dir-link/new.txt', 'chain-link/new.txt', 'inside-dir/nested-dir-link/new.txt', 'dangling-out', 'dir-link/sub/deep.txt']) {
      expect(refused(await failure(fs.pipe(path, 'pwned'))), `pipe ${path}`).toBe(true);
      expect(refused(await failure(fs.pipe(path, 'pwned', { mode: 'create' }))), `pipe create ${path}`).toBe(true);
      expect(refused(await failure(fs.touch(path))), `touch ${path}`).toBe(true);
    }
    expect(refused(await failure(fs.mkdir('dir-link/made')))).toBe(true);
    await outsideUntouched();
  });

  it('copies, moves and removals never cross the boundary', async () => {
    expect(refused(await failure(fs.cp('abs-file-link', 'copied.txt')))).toBe(true);
    expect(refused(await failure(fs.cp('inside-dir/ok.txt', 'dir-link/copied.txt')))).toBe(true);
    expect(refused(await failure(fs.mv('inside-dir/ok.txt', 'dir-link/moved.txt')))).toBe(true);
    expect(refused(await failure(fs.mv('dir-link/secret.txt', 'stolen.txt')))).toBe(true);
    expect(refused(await failure(fs.rm('dir-link/secret.txt')))).toBe(true);
    expect(refused(await failure(fs.rm('chain-link', { recursive: true }))) || (await fs.exists('chain-link')) === false).toBe(true);
    expect(await fs.exists('copied.txt')).toBe(false);
    expect(await fs.exists('stolen.txt')).toBe(false);
    expect(new TextDecoder().decode(await fs.cat('inside-dir/ok.txt'))).toBe('inside');
    await outsideUntouched();
  });

  it('listings, find, glob, du and walk never show or follow links that leave the root', async () => {
    const listed = (await fs.ls('/')).map((e) => e.name);
    for (const link of ['/abs-file-link', '/rel-file-link', '/dir-link', '/chain-link', '/dangling-out']) expect(listed).not.toContain(link);
    expect(listed).toContain('/inside-link');
    const found = await fs.find('/', { withDirs: true });
    expect(found.filter((p) => p.includes('secret'))).toEqual([]);
    expect(await fs.glob('/**/secret*')).toEqual([]);
    const walked: string[] = [];
    for await (const entry of fs.walk('/')) walked.push(entry.root, ...entry.files);
    expect(walked.filter((p) => p.includes('secret') || p.includes('outside'))).toEqual([]);
    expect(await fs.du('/')).toBeLessThan(1000);
  });

  it('rm -r of a directory holding a link that leads out never deletes outside the root', async () => {
    const jail2 = join(base, 'root2');
    await mkdir(join(jail2, 'd'), { recursive: true });
    await writeFile(join(jail2, 'd', 'x.txt'), 'x');
    await symlink(outside, join(jail2, 'd', 'out'));
    const fs2 = await filesystem('file', { root: jail2 });
    // Either the link itself is unlinked (its target untouched) or the removal stops with a typed error.
    const result = await failure(fs2.rm('/d', { recursive: true }));
    if (result instanceof Error) expect(result).toBeInstanceOf(FsError);
    await outsideUntouched();
    await fs2.close();
  });

  it('a link inside the root still works', async () => {
    expect(new TextDecoder().decode(await fs.cat('inside-link'))).toBe('inside');
  });

  it('urlToFs with a root option confines file:// URLs the same way', async () => {
    const { fs: viaUrl, path } = await urlToFs('file:///etc/passwd', { file: { root } });
    expect(new TextDecoder().decode(await viaUrl.cat(path))).toBe('jailed passwd');
    expect(refused(await failure(viaUrl.cat('dir-link/secret.txt')))).toBe(true);
    await viaUrl.close();
  });
});
