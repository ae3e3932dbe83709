import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  AlreadyExistsError,
  ConflictError,
  FsError,
  InvalidPathError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  filesystem,
  fromAdapter,
  urlToFs,
  type FileSystem,
} from '../src/index.js';
import { LocalAdapter } from '../src/backends/local.js';

const here = dirname(fileURLToPath(import.meta.url));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Any refusal of an escaping path: the design allows either class. */
function expectRefusal(error: unknown): void {
  expect(error).toBeInstanceOf(FsError);
  expect(error instanceof PermissionDeniedError || error instanceof InvalidPathError, String(error)).toBe(true);
}

async function refused(promise: Promise<unknown>): Promise<void> {
  let outcome: unknown = 'resolved';
  try {
    await promise;
  } catch (error) {
    outcome = error;
  }
  expectRefusal(outcome);
}

let scratch: string;
beforeEach(async () => {
  scratch = await realpath(await mkdtemp(join(tmpdir(), 'strata-local-test-')));
});
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('root confinement', () => {
  let root: string;
  let outside: string;
  let fs: FileSystem;

  beforeEach(async () => {
    root = join(scratch, 'root');
    outside = join(scratch, 'outside');
    await mkdir(join(root, 'inside-dir'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await writeFile(join(root, 'inside-dir', 'ok.txt'), 'ok');
    await symlink(outside, join(root, 'escape')); // absolute target
    await symlink(join(outside, 'secret.txt'), join(root, 'secret-link.txt'));
    await symlink('../outside', join(root, 'relative-escape')); // relative target
    await symlink(join(outside, 'not-yet'), join(root, 'dangling')); // escaping, dangling
    await symlink('inside-dir', join(root, 'inside-link')); // stays inside: allowed
    fs = await filesystem('file', { root });
  });

  it('maps /a/b and a/b to <root>/a/b, never to the real absolute path', async () => {
    await fs.pipe('/etc/strata-test.txt', 'under root');
    expect(await readFile(join(root, 'etc', 'strata-test.txt'), 'utf8')).toBe('under root');
    expect(text(await fs.cat('etc/strata-test.txt'))).toBe('under root');
    // An absolute host path is just a path below the root.
    await expect(fs.cat(join(outside, 'secret.txt'))).rejects.toBeInstanceOf(NotFoundError);
    expect((await fs.info('/inside-dir/ok.txt')).name).toBe('/inside-dir/ok.txt');
    expect((await fs.ls('/inside-dir')).map((e) => e.name)).toEqual(['/inside-dir/ok.txt']);
  });

  it('refuses .. that climbs out of the root', async () => {
    await refused(fs.cat('/../outside/secret.txt'));
    await refused(fs.cat('../outside/secret.txt'));
    await refused(fs.pipe('/inside-dir/../../outside/new.txt', 'x'));
    await refused(fs.ls('/..'));
    await expect(stat(join(outside, 'new.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    // .. that stays inside is resolved, not refused.
    expect(text(await fs.cat('/inside-dir/../inside-dir/ok.txt'))).toBe('ok');
  });

  it('the adapter itself refuses un-normalised paths', async () => {
    const adapter = new LocalAdapter({ root });
    await refused(adapter.read('/../outside/secret.txt', 0, undefined, {}));
    await refused(adapter.head('/inside-dir/../..', {}));
  });

  it('refuses reads through escaping symlinks (absolute, relative, file links)', async () => {
    await refused(fs.cat('/escape/secret.txt'));
    await refused(fs.cat('/relative-escape/secret.txt'));
    await refused(fs.cat('/secret-link.txt'));
    await refused(fs.info('/secret-link.txt'));
    await refused(fs.open('/escape/secret.txt', 'rb'));
    await refused(fs.exists('/escape/secret.txt')); // not "false": a refusal is not "not found"
    await refused(fs.get('/secret-link.txt', join(scratch, 'leak.txt')));
    await expect(stat(join(scratch, 'leak.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses writes through escaping symlinks, dangling ones included', async () => {
    await refused(fs.pipe('/escape/planted.txt', 'x'));
    await refused(fs.pipe('/relative-escape/deeper/planted.txt', 'x'));
    await refused(fs.pipe('/secret-link.txt', 'overwritten'));
    await refused(fs.pipe('/dangling', 'x'));
    await refused(fs.pipe('/dangling/child.txt', 'x'));
    await refused(fs.touch('/escape/touched.txt'));
    await refused(fs.mkdir('/escape/newdir'));
    await refused(fs.cp('/inside-dir/ok.txt', '/escape/copied.txt'));
    await refused(fs.mv('/inside-dir/ok.txt', '/escape/moved.txt'));
    const local = join(scratch, 'upload.txt');
    await writeFile(local, 'upload');
    await refused(fs.put(local, '/escape/uploaded.txt'));
    expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    expect(await readFile(join(root, 'inside-dir', 'ok.txt'), 'utf8')).toBe('ok');
  });

  it('refuses listing through escaping symlinks and leaves them out of listings', async () => {
    await refused(fs.ls('/escape'));
    await refused(fs.find('/relative-escape'));
    const top = (await fs.ls('/')).map((e) => e.name);
    expect(top).toEqual(['/inside-dir', '/inside-link']);
    expect(await fs.find('/')).toEqual(['/inside-dir/ok.txt']);
    expect(await fs.glob('/**/secret*')).toEqual([]);
    expect(await fs.du('/')).toBe(2);
  });

  it('refuses deletes through escaping symlinks, but removes such a link itself without following it', async () => {
    await refused(fs.rm('/escape/secret.txt'));
    await refused(fs.rm('/relative-escape/secret.txt', { recursive: true }));
    await refused(fs.mv('/escape/secret.txt', '/stolen.txt'));
    // The links live inside the root: rm unlinks them, recursive or not, and never touches their targets.
    await fs.rm('/escape', { recursive: true });
    await fs.rm('/relative-escape');
    await fs.rm('/secret-link.txt');
    await fs.rm('/dangling');
    expect((await readdir(root)).sort()).toEqual(['inside-dir', 'inside-link']);
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('rm -r of a tree holding escaping links (which listings leave out) unlinks them and finishes', async () => {
    await mkdir(join(root, 'tree', 'sub'), { recursive: true });
    await writeFile(join(root, 'tree', 'sub', 'own.txt'), 'own');
    await symlink(outside, join(root, 'tree', 'out-dir'));
    await symlink(join(outside, 'secret.txt'), join(root, 'tree', 'sub', 'out-file'));
    await symlink(join(outside, 'not-yet'), join(root, 'tree', 'sub', 'out-dangling'));
    expect(await fs.find('/tree', { withDirs: true })).toEqual(['/tree', '/tree/sub', '/tree/sub/own.txt']);
    await fs.rm('/tree', { recursive: true });
    expect(existsSync(join(root, 'tree'))).toBe(false);
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('follows symlinks that stay inside the root', async () => {
    expect(text(await fs.cat('/inside-link/ok.txt'))).toBe('ok');
    await fs.pipe('/inside-link/via-link.txt', 'via');
    expect(await readFile(join(root, 'inside-dir', 'via-link.txt'), 'utf8')).toBe('via');
  });

  it('a missing root is reported as NotFoundError', async () => {
    const missing = await filesystem('file', { root: join(scratch, 'no-such-root') });
    await expect(missing.ls('/')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('atomic writes on disk', () => {
  let fs: FileSystem;
  beforeEach(() => {
    fs = fromAdapter(new LocalAdapter());
  });

  it('stages into a hidden temp file in the target directory; ls never shows it', async () => {
    const target = join(scratch, 'sub', 'target.txt');
    const handle = await fs.open(target, 'wb');
    await handle.write('staged');
    const staged = await readdir(join(scratch, 'sub'));
    expect(staged).toHaveLength(1);
    expect(staged[0]).toMatch(/^\.target\.txt\.strata-[0-9a-f]+\.tmp$/);
    expect(await readFile(join(scratch, 'sub', staged[0]!), 'utf8')).toBe('staged');
    expect(await fs.ls(join(scratch, 'sub'))).toEqual([]);
    expect(await fs.find(scratch)).toEqual([]);
    await handle.commit();
    expect(await readdir(join(scratch, 'sub'))).toEqual(['target.txt']);
    expect(await readFile(target, 'utf8')).toBe('staged');

    const aborted = await fs.open(target, 'wb');
    await aborted.write('discard me');
    await aborted.abort();
    expect(await readdir(join(scratch, 'sub'))).toEqual(['target.txt']);
    expect(await readFile(target, 'utf8')).toBe('staged');
  });

  it("'create' is decided by link(): a losing writer leaves no temp file and the winner's bytes", async () => {
    const target = join(scratch, 'exclusive.txt');
    const first = await fs.open(target, 'xb');
    const second = await fs.open(target, 'xb');
    await first.write('first');
    await second.write('second');
    await second.commit();
    await expect(first.commit()).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await readdir(scratch)).toEqual(['exclusive.txt']);
    expect(await readFile(target, 'utf8')).toBe('second');
  });

  it("'overwrite' makes missing parents on demand and refuses a directory at commit, leaving no temp file", async () => {
    const deep = join(scratch, 'a', 'b', 'c.txt');
    await fs.pipe(deep, 'deep');
    expect(await readFile(deep, 'utf8')).toBe('deep');
    await mkdir(join(scratch, 'taken'));
    await writeFile(join(scratch, 'taken', 'child.txt'), 'child');
    const handle = await fs.open(join(scratch, 'taken'), 'wb');
    await handle.write('x');
    await expect(handle.commit()).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(fs.pipe(join(scratch, 'taken'), 'x')).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(fs.open(join(scratch, 'taken'), 'xb')).rejects.toBeInstanceOf(IsADirectoryError);
    expect((await readdir(scratch)).sort()).toEqual(['a', 'taken']);
    expect(await readdir(join(scratch, 'taken'))).toEqual(['child.txt']);
  });

  it('a pinned read handle notices a same-size replacement (new inode)', async () => {
    const target = join(scratch, 'pinned.txt');
    await fs.pipe(target, 'AAAA');
    const handle = await fs.open(target, 'rb');
    await fs.pipe(target, 'BBBB');
    await expect(handle.read()).rejects.toBeInstanceOf(ConflictError);
  });

  it('maps errno to the error classes, naming the path and protocol', async () => {
    await writeFile(join(scratch, 'file.txt'), 'x');
    const underFile = join(scratch, 'file.txt', 'child.txt');
    const error = await fs.pipe(underFile, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotADirectoryError);
    expect(error).toMatchObject({ code: 'ENOTDIR', protocol: 'file', path: underFile });
    const missing = await fs.cat(join(scratch, 'missing.txt')).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'ENOENT', protocol: 'file', path: join(scratch, 'missing.txt') });
    expect((missing as Error).cause).toMatchObject({ code: 'ENOENT' });
    await expect(fs.mkdir(join(scratch, 'file.txt'), { parents: false })).rejects.toBeInstanceOf(AlreadyExistsError);
  });

  it('rm -r removes symlinks inside the tree, not what they point at', async () => {
    await mkdir(join(scratch, 'kept'));
    await writeFile(join(scratch, 'kept', 'data.txt'), 'kept');
    await mkdir(join(scratch, 'tree'));
    await writeFile(join(scratch, 'tree', 'own.txt'), 'own');
    await symlink(join(scratch, 'kept'), join(scratch, 'tree', 'dir-link'));
    await symlink(join(scratch, 'kept', 'data.txt'), join(scratch, 'tree', 'file-link.txt'));
    expect(await fs.find(join(scratch, 'tree'))).toEqual([join(scratch, 'tree', 'file-link.txt'), join(scratch, 'tree', 'own.txt')]);
    await fs.rm(join(scratch, 'tree'), { recursive: true });
    expect(await fs.exists(join(scratch, 'tree'))).toBe(false);
    expect(await readFile(join(scratch, 'kept', 'data.txt'), 'utf8')).toBe('kept');
  });

  it('rm of a symlink to a directory, recursive or not, removes the link and leaves the directory whole', async () => {
    await mkdir(join(scratch, 'target', 'sub'), { recursive: true });
    await writeFile(join(scratch, 'target', 'sub', 'data.txt'), 'kept');
    await symlink(join(scratch, 'target'), join(scratch, 'link-r'));
    await symlink(join(scratch, 'target'), join(scratch, 'link'));
    expect(await fs.info(join(scratch, 'link-r'))).toMatchObject({ type: 'directory', islink: true });
    await fs.rm(join(scratch, 'link-r'), { recursive: true });
    await fs.rm(join(scratch, 'link'));
    expect(await readdir(scratch)).not.toContain('link-r');
    expect(await readdir(scratch)).not.toContain('link');
    expect(await readFile(join(scratch, 'target', 'sub', 'data.txt'), 'utf8')).toBe('kept');
  });

  it('rm removes a dangling or looping link itself, and rm -r a tree holding them', async () => {
    await symlink(join(scratch, 'missing'), join(scratch, 'dangling'));
    await symlink('loop-b', join(scratch, 'loop-a'));
    await symlink('loop-a', join(scratch, 'loop-b'));
    await mkdir(join(scratch, 'tree'));
    await symlink(join(scratch, 'missing'), join(scratch, 'tree', 'dangling'));
    await symlink('self', join(scratch, 'tree', 'self'));
    await fs.rm(join(scratch, 'dangling'));
    await fs.rm(join(scratch, 'loop-a'));
    await fs.rm(join(scratch, 'loop-b'), { recursive: true });
    await fs.rm(join(scratch, 'tree'), { recursive: true });
    expect(await readdir(scratch)).toEqual([]);
    await expect(fs.rm(join(scratch, 'dangling'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rm -r removes writers\' temp files with their directory; only the exact temp-file form is hidden', async () => {
    const dir = join(scratch, 'd');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a'), 'A');
    await writeFile(join(dir, '.a.strata-0123456789abcdef.tmp'), 'left by a crashed writer');
    await writeFile(join(dir, 'sub', '.b.strata-fedcba9876543210.tmp'), 'left by a crashed writer');
    // A user's files that merely look like temp files stay visible (and are copied, counted, removed).
    const lookalikes = ['.notes.strata-beef.tmp', '..strata-0123456789abcdef.tmp', `.${'n'.repeat(41)}.strata-0123456789abcdef.tmp`, '.a.strata-0123456789ABCDEF.tmp'];
    for (const name of lookalikes) await writeFile(join(dir, name), 'mine');
    await mkdir(join(dir, '.c.strata-0123456789abcdef.tmp'));
    const visible = [...lookalikes, '.c.strata-0123456789abcdef.tmp', 'a', 'sub'].map((n) => join(dir, n)).sort();
    expect((await fs.ls(dir)).map((e) => e.name)).toEqual(visible);
    // A writer still open in the tree loses its temp file too: its commit then fails, as the directory is gone.
    const open = await fs.open(join(dir, 'sub', 'late.txt'), 'wb');
    await open.write('late');
    await fs.rm(dir, { recursive: true });
    expect(existsSync(dir)).toBe(false);
    await expect(open.commit()).rejects.toBeInstanceOf(FsError);
    expect(existsSync(dir)).toBe(false);
  });

  it('walk lists a symlinked directory but does not enter it, so a link loop ends', async () => {
    await mkdir(join(scratch, 'loop', 'inner'), { recursive: true });
    await writeFile(join(scratch, 'loop', 'inner', 'f.txt'), 'f');
    await symlink(join(scratch, 'loop'), join(scratch, 'loop', 'inner', 'back'));
    const walked = [];
    for await (const entry of fs.walk(join(scratch, 'loop'))) walked.push(entry);
    expect(walked).toEqual([
      { root: join(scratch, 'loop'), dirs: ['inner'], files: [] },
      { root: join(scratch, 'loop', 'inner'), dirs: ['back'], files: ['f.txt'] },
    ]);
  });

  it('abort() after the call\'s signal fired still removes the temp file', async () => {
    await mkdir(join(scratch, 'signalled'));
    const controller = new AbortController();
    const handle = await fs.open(join(scratch, 'signalled', 'x.bin'), 'wb', { signal: controller.signal });
    await handle.write('partial');
    controller.abort();
    await handle.abort();
    expect(await readdir(join(scratch, 'signalled'))).toEqual([]);
  });

  // /dev/shm is a tmpfs on Linux: a different device from the scratch directory's disk.
  const otherDevice = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdir()).dev;
  it.runIf(otherDevice)('mv -r of a directory to another device copies the tree and removes the source (EXDEV)', async () => {
    const source = await mkdtemp('/dev/shm/strata-exdev-');
    await mkdir(join(source, 'sub'));
    await writeFile(join(source, 'sub', 'a.txt'), 'a');
    await writeFile(join(source, 'b.txt'), 'b');
    await fs.mv(source, join(scratch, 'moved'), { recursive: true });
    expect(await fs.find(join(scratch, 'moved'))).toEqual([join(scratch, 'moved', 'b.txt'), join(scratch, 'moved', 'sub', 'a.txt')]);
    expect(existsSync(source)).toBe(false);
  });

  it('exists, isFile and isDir say false below a file rather than throw', async () => {
    await writeFile(join(scratch, 'plain.txt'), 'x');
    expect(await fs.exists(join(scratch, 'plain.txt', 'x'))).toBe(false);
    expect(await fs.isFile(join(scratch, 'plain.txt', 'x'))).toBe(false);
    expect(await fs.isDir(join(scratch, 'plain.txt', 'x'))).toBe(false);
  });

  it('catRanges reports progress in bytes, ending at the bytes read', async () => {
    const path = join(scratch, 'ranges.bin');
    await writeFile(path, new Uint8Array(1000));
    const calls: Array<[number, number]> = [];
    await fs.catRanges([path, path, path], [0, 100, 900], [100, 400, 1000], { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.at(-1)).toEqual([500, 500]);
    expect(calls.every(([done, total]) => total === 500 && done <= total)).toBe(true);
  });

  it('readStream serves exact ranges, checks the etag, and stream() uses it for large reads', async () => {
    const adapter = new LocalAdapter();
    const path = join(scratch, 'stream.bin');
    const payload = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251);
    await writeFile(path, payload);
    const collect = async (chunks: AsyncIterable<Uint8Array>) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) parts.push(chunk);
      return Buffer.concat(parts);
    };
    expect([...(await collect(adapter.readStream(path, 5, 12, {})))]).toEqual([...payload.subarray(5, 12)]);
    expect((await collect(adapter.readStream(path, 199_990, 500_000, {}))).length).toBe(10);
    expect((await collect(adapter.readStream(path, 300_000, undefined, {}))).length).toBe(0);
    const { etag } = await adapter.head(path, {});
    expect((await collect(adapter.readStream(path, 0, undefined, { etag }))).equals(payload)).toBe(true);
    await expect(collect(adapter.readStream(path, 0, 10, { etag: 'stale' }))).rejects.toBeInstanceOf(ConflictError);
    // Breaking out early must release the file handle (no leak warning, file removable).
    for await (const _ of adapter.readStream(path, 0, undefined, {})) break;

    const small = fromAdapter(adapter, { blockSize: 4096 });
    const handle = await small.open(path, 'rb');
    handle.seek(100);
    const streams = vi.spyOn(adapter, 'readStream');
    const streamed = await collect(handle.stream());
    expect(streamed.equals(payload.subarray(100))).toBe(true);
    expect(streams).toHaveBeenCalledTimes(1);
    expect(streams.mock.calls[0]!.slice(0, 2)).toEqual([path, 100]);
  });

  it.skipIf(process.getuid?.() === 0)('maps EACCES to PermissionDeniedError (skipped as root: root ignores modes)', async () => {
    const locked = join(scratch, 'locked');
    await mkdir(locked, { mode: 0o500 });
    await expect(fs.pipe(join(locked, 'x.txt'), 'x')).rejects.toBeInstanceOf(PermissionDeniedError);
  });
});

describe('relative paths without a root', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('resolve against the working directory in every method, as urlToFs, put and get do (fsspec LocalFileSystem)', async () => {
    // path.resolve asks process.cwd(), so this stands in for a chdir (which workers do not allow).
    vi.spyOn(process, 'cwd').mockReturnValue(scratch);
    const fs = await filesystem('file');
    await fs.pipe('rel.txt', 'relative');
    expect(await readFile(join(scratch, 'rel.txt'), 'utf8')).toBe('relative');
    expect(text(await fs.cat('rel.txt'))).toBe('relative');
    expect(text(await fs.cat('file://rel.txt'))).toBe('relative');
    expect((await fs.info('./rel.txt')).name).toBe(join(scratch, 'rel.txt'));
    await fs.cp('rel.txt', 'dir/copy.txt');
    expect(await fs.find('dir')).toEqual([join(scratch, 'dir', 'copy.txt')]);
    expect(await fs.glob('*.txt')).toEqual([join(scratch, 'rel.txt')]);
    const viaUrl = await urlToFs('dir/copy.txt');
    expect(viaUrl.path).toBe(await fs.info('dir/copy.txt').then((i) => i.name));
    // Absolute paths are untouched; .. from the working directory climbs as the shell's would.
    expect((await fs.info(join(scratch, 'rel.txt'))).name).toBe(join(scratch, 'rel.txt'));
    expect((await fs.info(`../${basename(scratch)}/rel.txt`)).name).toBe(join(scratch, 'rel.txt'));
  });
});

/**
 * The crash test runs the real adapter in a child process that dies before commit. Node 20
 * cannot run TypeScript, so the adapter's sources (which import nothing outside fs-core) are
 * transpiled to a temp directory first.
 */
describe('crash before commit', () => {
  let compiled: string | undefined;
  afterAll(async () => {
    if (compiled) await rm(compiled, { recursive: true, force: true });
  });

  async function compileAdapter(): Promise<string> {
    if (compiled) return compiled;
    const out = await mkdtemp(join(tmpdir(), 'strata-local-compiled-'));
    const src = join(here, '..', 'src');
    for (const file of ['errors.ts', 'paths.ts', 'backends/errno.ts', 'backends/local.ts']) {
      const source = await readFile(join(src, file), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        fileName: file,
      });
      await mkdir(join(out, dirname(file)), { recursive: true });
      await writeFile(join(out, file.replace(/\.ts$/, '.js')), outputText);
    }
    await writeFile(join(out, 'package.json'), '{"type":"module"}');
    await writeFile(
      join(out, 'crash.js'),
      `import { LocalAdapter } from './backends/local.js';
const [root, how] = process.argv.slice(2);
const writer = await new LocalAdapter({ root }).createWriter('/data/target.txt', 'overwrite', {});
await writer.write(new TextEncoder().encode('NEW AND HALF-WRITTEN'));
process.stdout.write('staged\\n');
if (how === 'exit') process.exit(0);
setInterval(() => {}, 1000); // wait to be killed
`,
    );
    compiled = out;
    return out;
  }

  async function runAndDie(how: 'exit' | 'kill', root: string): Promise<void> {
    const dir = await compileAdapter();
    const child = spawn(process.execPath, [join(dir, 'crash.js'), root, how], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('staged') && how === 'kill') child.kill('SIGKILL');
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (how === 'exit' && code !== 0) reject(new Error(`child failed (${code}): ${stderr}`));
        else if (how === 'kill' && signal !== 'SIGKILL') reject(new Error(`child was not killed (${code}): ${stderr}`));
        else resolve();
      });
    });
  }

  for (const how of ['exit', 'kill'] as const) {
    it(`process ${how === 'exit' ? 'exit' : 'SIGKILL'} without commit leaves the target untouched`, async () => {
      const root = join(scratch, 'crash-root');
      await mkdir(join(root, 'data'), { recursive: true });
      await writeFile(join(root, 'data', 'target.txt'), 'old and whole');
      await runAndDie(how, root);
      expect(await readFile(join(root, 'data', 'target.txt'), 'utf8')).toBe('old and whole');
      // The orphaned temp file stays on disk (nobody could clean it) but no listing shows it,
      // and it does not stop rm -r of its directory.
      const onDisk = await readdir(join(root, 'data'));
      expect(onDisk).toHaveLength(2);
      const fs = await filesystem('file', { root });
      expect((await fs.ls('/data')).map((e) => e.name)).toEqual(['/data/target.txt']);
      await fs.rm('/data', { recursive: true });
      expect(await readdir(root)).toEqual([]);
    }, 30_000);

    it(`process ${how === 'exit' ? 'exit' : 'SIGKILL'} without commit creates no new file`, async () => {
      const root = join(scratch, 'crash-new');
      await mkdir(root);
      await runAndDie(how, root);
      const fs = await filesystem('file', { root });
      expect(await fs.exists('/data/target.txt')).toBe(false);
      expect(await fs.find('/')).toEqual([]);
    }, 30_000);
  }
});
