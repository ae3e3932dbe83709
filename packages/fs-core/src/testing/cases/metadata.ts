import { expect } from 'vitest';

import { AbortError, AlreadyExistsError, FsError, InvalidPathError, IsADirectoryError, NotFoundError, NotSupportedError } from '../../errors.js';
import { expectFsError, utf8, type CaseRegistrar, type Harness } from '../harness.js';
import { knownImplementations } from '../../known.js';

const CAPABILITY_KEYS = ['atomicCommit', 'conditionalCreate', 'rangeRead', 'emptyDirectories', 'sign', 'serverSideCopy', 'atomicMove'] as const;

export function registerMetadataCases(h: Harness, test: CaseRegistrar): void {
  test('reports its protocol and every capability as a boolean', async () => {
    expect(typeof h.fs.protocol).toBe('string');
    expect(h.fs.protocol).toMatch(/^[a-z][a-z0-9+.-]*$/);
    for (const key of CAPABILITY_KEYS) expect(typeof h.fs.capabilities[key], key).toBe('boolean');
  });

  test('unstripProtocol gives a URL that every method accepts in place of the path', async () => {
    const path = await h.write('url/file.txt', 'via url');
    const url = h.fs.unstripProtocol(path);
    expect(url.startsWith(`${h.fs.protocol}://`)).toBe(true);
    expect((await h.fs.info(url)).name).toBe(path);
    expect(await h.readText(url)).toBe('via url');
    expect((await h.fs.ls(h.fs.unstripProtocol(h.path('url')))).map((e) => e.name)).toEqual([path]);
  });

  test('info of a file gives its full name, type, size and (where the backend keeps one) mtime', async () => {
    const before = Date.now();
    const path = await h.write('info.bin', new Uint8Array(1234));
    const info = await h.fs.info(path);
    expect(info.name).toBe(path);
    expect(info.type).toBe('file');
    expect(info.size).toBe(1234);
    if (info.mtime !== undefined) {
      expect(info.mtime).toBeInstanceOf(Date);
      // Generous: server clocks drift, and some stores have one-second resolution.
      expect(Math.abs(info.mtime.getTime() - before)).toBeLessThan(10 * 60_000);
    }
  });

  test('info of a prefix is a directory, at every level, with or without a trailing slash', async () => {
    await h.write('p/q/r/leaf.txt', 'leaf');
    for (const dir of [h.path('p'), h.path('p/q'), h.path('p/q/r')]) {
      const info = await h.fs.info(dir);
      expect(info.type, dir).toBe('directory');
      expect(info.name).toBe(dir);
      expect((await h.fs.info(`${dir}/`)).type).toBe('directory');
      expect(await h.fs.isDir(dir)).toBe(true);
      expect(await h.fs.isFile(dir)).toBe(false);
      expect(await h.fs.exists(dir)).toBe(true);
    }
  });

  test('exists, isFile and isDir are true for a file only where they should be', async () => {
    const path = await h.write('here.txt', 'x');
    expect(await h.fs.exists(path)).toBe(true);
    expect(await h.fs.isFile(path)).toBe(true);
    expect(await h.fs.isDir(path)).toBe(false);
  });

  test('exists, isFile and isDir are false for a missing path; info throws NotFoundError', async () => {
    await h.write('present.txt', 'x');
    for (const missing of [h.path('absent.txt'), h.path('absent/deeper.txt'), h.path('presen')]) {
      expect(await h.fs.exists(missing), missing).toBe(false);
      expect(await h.fs.isFile(missing)).toBe(false);
      expect(await h.fs.isDir(missing)).toBe(false);
      await expectFsError(h.fs.info(missing), NotFoundError);
    }
    // Below a file nothing can exist (local disks say ENOTDIR there).
    const belowFile = h.path('present.txt/x');
    expect([await h.fs.exists(belowFile), await h.fs.isFile(belowFile), await h.fs.isDir(belowFile)], belowFile).toEqual([false, false, false]);
  });

  test('exists is false only for "not found": other failures throw', async () => {
    await h.write('present.txt', 'x');
    await expectFsError(h.fs.exists(h.path('present.txt'), { signal: AbortSignal.abort() }), AbortError);
    await expectFsError(h.fs.exists(h.path('absent.txt'), { signal: AbortSignal.abort() }), AbortError);
  });

  test('credentials or a port in the bucket segment are InvalidPathError for every method, the credentials never quoted', async ({ skip }) => {
    if (!Object.hasOwn(knownImplementations, h.fs.protocol)) skip("only S3, GCS and Azure bucket names are known to hold no ':' (a plug-in's may be host:port)");
    const SECRET = 'hunter2SuperSecretPw';
    const bucket = h.base.split('/')[0]!;
    const local = await h.localTempDir();
    const src = await h.write('src.txt', 'x');
    // A raw AWS secret may hold '/', which ends the bucket segment inside it.
    for (const path of [`user:${SECRET}@${bucket}/key`, `${h.fs.protocol}://KEY:${SECRET}@${bucket}/key`, `KEY:wJal/${SECRET}@${bucket}/key`, `${bucket}:9000/key`]) {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['info', () => h.fs.info(path)],
        ['exists', () => h.fs.exists(path)],
        ['ls', () => h.fs.ls(path)],
        ['find', () => h.fs.find(path)],
        ['glob', () => h.fs.glob(`${path}/*`)],
        ['cat', () => h.fs.cat(path)],
        ['pipe', () => h.fs.pipe(path, 'x')],
        ['open wb', () => h.fs.open(path, 'wb')],
        ['get', () => h.fs.get(path, `${local}/got`)],
        ['cp', () => h.fs.cp(src, path)],
        ['rm', () => h.fs.rm(path)],
      ];
      for (const [name, call] of calls) {
        const error = await expectFsError(call(), InvalidPathError, `${name} ${path}`);
        expect(`${error.message} ${error.path} ${JSON.stringify(error)}`, name).not.toContain(SECRET);
      }
    }
  }, { without: ['emptyDirectories'] });

  test("':' and '@' are ordinary characters in names below the top", async () => {
    const odd = await h.write('user:pw@host:9000/k:1@x', 'ok');
    expect(await h.readText(odd)).toBe('ok');
    expect(await h.fs.find(h.dir)).toEqual([odd]);
  });

  test('errors are FsErrors that name the code, protocol and path', async () => {
    const missing = h.path('no such file.txt');
    const notFound = await expectFsError(h.fs.cat(missing), NotFoundError);
    expect(notFound.code).toBe('ENOENT');
    expect(notFound.protocol).toBe(h.fs.protocol);
    expect(notFound.path).toContain('no such file.txt');
    expect(notFound.message).toContain('no such file.txt');
    expect(notFound.retryable).toBe(false);

    const existing = await h.write('exists.txt', 'x');
    const exists = await expectFsError(h.fs.pipe(existing, 'y', { mode: 'create' }), AlreadyExistsError);
    expect(exists.code).toBe('EEXIST');
    expect(exists.protocol).toBe(h.fs.protocol);
    expect(exists.path).toContain('exists.txt');

    await h.write('dir/inside.txt', 'x');
    const isDir = await expectFsError(h.fs.open(h.path('dir'), 'rb'), IsADirectoryError);
    expect(isDir.code).toBe('EISDIR');
    expect(isDir.protocol).toBe(h.fs.protocol);

    // A directory cannot be read as a file, whatever the store calls it.
    const catDir = await expectFsError(h.fs.cat(h.path('dir')), FsError);
    expect(['EISDIR', 'ENOENT']).toContain(catDir.code);
  });

  test('sign produces a URL that serves the file', async () => {
    const path = await h.write('signed.txt', 'signed content');
    expect(typeof h.fs.sign).toBe('function');
    const url = await h.fs.sign!(path, { expiresIn: 300 });
    expect(url).toMatch(/^https?:\/\//);
    // Test servers listen on loopback only; never fetch anything else.
    const host = new URL(url).hostname;
    expect(['127.0.0.1', 'localhost', '[::1]']).toContain(host);
    // As any client of a signed URL would, a 5xx or a dropped connection is tried again (the
    // reliability suite runs this case through a proxy that injects both).
    let answer: { status: number; text: string } | undefined;
    for (let attempt = 1; attempt <= 6 && (answer === undefined || answer.status >= 500); attempt++) {
      try {
        const response = await fetch(url);
        answer = { status: response.status, text: await response.text() };
      } catch (error) {
        if (attempt === 6) throw error;
      }
    }
    expect(answer?.status).toBe(200);
    expect(answer?.text).toBe('signed content');
  }, { needs: ['sign'] });

  test('sign is absent or fails with NotSupportedError', async () => {
    const path = await h.write('unsigned.txt', utf8('x'));
    if (h.fs.sign === undefined) return;
    await expectFsError(h.fs.sign(path, { expiresIn: 60 }), NotSupportedError);
  }, { without: ['sign'] });
}
