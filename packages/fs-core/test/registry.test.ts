import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  InvalidPathError,
  NotFoundError,
  ProtocolNotAvailableError,
  filesystem,
  fromAdapter,
  knownImplementations,
  optionsFor,
  registerImplementation,
  urlToFs,
  type FileSystem,
} from '../src/index.js';
import { MemoryAdapter } from '../src/backends/memory.js';
import { MapObjectStoreAdapter } from './support/map-object-store.js';

const fsCoreDist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('registry', () => {
  it('knows the cloud protocols lazily, by package', () => {
    expect(knownImplementations.s3?.module).toBe('@strata/fs-s3');
    expect(knownImplementations.gs?.module).toBe('@strata/fs-gcs');
    expect(knownImplementations.abfs?.module).toBe('@strata/fs-azure');
  });

  /** What urlToFs('s3://…') throws when importing @strata/fs-s3 fails with `message` (ERR_MODULE_NOT_FOUND). */
  function s3ImportFailure(message: string): { name: string; code: string; message: string } {
    const dir = mkdtempSync(join(tmpdir(), 'strata-registry-'));
    const script = join(dir, 'probe.mjs');
    writeFileSync(
      script,
      `const { urlToFs } = await import(${JSON.stringify(fsCoreDist)});
       try { await urlToFs('s3://bucket/key'); console.log('NO ERROR'); }
       catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`,
    );
    // Resolution of bare specifiers starts at fs-core's dist, which can see the workspace's
    // node_modules; hide them by pointing the loader at a copy-free check instead.
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(\`
        export async function resolve(spec, ctx, next) {
          if (spec === '@strata/fs-s3') { const e = new Error(${JSON.stringify(message)}); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; }
          return next(spec, ctx);
        }\`));
      await import(${JSON.stringify(script)});
    `], { encoding: 'utf8' });
    return JSON.parse(result.stdout.trim().split('\n').pop()!) as { name: string; code: string; message: string };
  }

  it('names the package to install when a backend is missing', () => {
    const out = s3ImportFailure("Cannot find package '@strata/fs-s3' imported from /app/main.js");
    expect(out.name).toBe('ProtocolNotAvailableError');
    expect(out.code).toBe('EPROTONOSUPPORT');
    expect(out.message).toContain('s3');
    expect(out.message).toContain('npm install @strata/fs-s3');
  });

  it('does not tell to install the backend when it is there but one of its own dependencies is missing', () => {
    const out = s3ImportFailure("Cannot find package '@aws-sdk/client-s3' imported from /app/node_modules/@strata/fs-s3/dist/adapter.js");
    expect(out.name).toBe('ProtocolNotAvailableError');
    expect(out.message).toContain('loading @strata/fs-s3 failed');
    expect(out.message).toContain('@aws-sdk/client-s3');
    expect(out.message).not.toContain('npm install @strata/fs-s3');
  });

  it('rejects unknown protocols, listing the known ones', async () => {
    const error = await urlToFs('nope://x/y').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolNotAvailableError);
    expect((error as Error).message).toMatch(/Unknown protocol "nope".*memory.*s3/);
  });

  it('plugs in third-party protocols by name', async () => {
    const store = fromAdapter(new MemoryAdapter({ store: 'private' }));
    let received: object | undefined;
    registerImplementation('foo', (options) => {
      received = options;
      return store;
    });
    const { fs, path } = await urlToFs('foo://x', { foo: { token: 't' } });
    expect(fs).toBe(store);
    expect(path).toBe('/x'); // the memory store's path style
    await fs.pipe(path, 'via foo');
    expect(new TextDecoder().decode(await store.cat('/x'))).toBe('via foo');
    expect(received).toEqual({ token: 't' });
    expect(() => registerImplementation('foo', () => store)).toThrow(/already registered/);
    registerImplementation('foo', () => store, { clobber: true });
    // Built-in and known lazy protocols are taken too (a plug-in silently serving s3:// would be a surprise).
    for (const taken of ['file', 'memory', 's3', 'S3A', 'gs', 'abfs']) {
      expect(() => registerImplementation(taken, () => store), taken).toThrow(AlreadyExistsError);
    }
  });

  it("lets a plug-in object store be addressed by host:port (only S3, GCS and Azure refuse ':' in a bucket)", async () => {
    registerImplementation('kvstore', () => fromAdapter(new MapObjectStoreAdapter(new Set(['127.0.0.1:6379']))), { clobber: true });
    const { fs, path } = await urlToFs('kvstore://127.0.0.1:6379/some/key');
    expect(path).toBe('127.0.0.1:6379/some/key');
    await fs.pipe(path, 'v');
    expect(new TextDecoder().decode(await fs.cat(path))).toBe('v');
  });

  it('maps bare and file: paths to the local filesystem', async () => {
    const { fs, path } = await urlToFs('relative/dir/../x.bin');
    expect(fs.protocol).toBe('file');
    expect(path).toBe(join(process.cwd(), 'relative/x.bin'));
    expect((await urlToFs('file:///tmp/a//b')).path).toBe('/tmp/a/b');
    expect((await urlToFs('local:///tmp/a')).fs.protocol).toBe('file');
  });

  it('reads the short file URI form file:/abs/path (RFC 8089), in urlToFs and in every method, as fsspec does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-file-uri-'));
    const { fs, path } = await urlToFs(`file:${dir}/made.txt`);
    expect(path).toBe(`${dir}/made.txt`);
    await fs.pipe(`file:${dir}/made.txt`, 'made');
    expect(readFileSync(join(dir, 'made.txt'), 'utf8')).toBe('made');
    expect((await fs.info(`FILE:${dir}/made.txt`)).name).toBe(`${dir}/made.txt`);
    expect(await fs.find(`local:${dir}`)).toEqual([`${dir}/made.txt`]);
    // Only the own protocol's short form: another scheme stays a typo, and file:rel is no URI.
    await expect(urlToFs('memory:/x')).rejects.toBeInstanceOf(InvalidPathError);
    await expect(urlToFs('file:rel/x')).rejects.toBeInstanceOf(InvalidPathError);
    rmSync(dir, { recursive: true, force: true });
  });

  it('with a file root, a bare path means <root>/path whether relative or absolute, and .. leaving the root is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'strata-registry-root-'));
    writeFileSync(join(root, 'in.txt'), 'inside');
    // The working directory plays no part: it used to be prefixed (<root>/<cwd>/in.txt).
    for (const url of ['in.txt', './in.txt', 'sub/../in.txt', '/in.txt', 'file://in.txt', 'file:///in.txt']) {
      const { fs, path } = await urlToFs(url, { root });
      expect(path, url).toBe('/in.txt');
      expect(new TextDecoder().decode(await fs.cat(path)), url).toBe('inside');
    }
    // These used to be clamped to /x.txt (or <root>/<cwd>/...) instead of refused.
    for (const url of ['../x.txt', '../../../../x.txt', 'a/../../x.txt', '/../x.txt', 'file://../x.txt']) {
      await expect(urlToFs(url, { root }), url).rejects.toBeInstanceOf(InvalidPathError);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('shares one memory store per process across urlToFs calls', async () => {
    const a = await urlToFs('memory://run/shared.txt');
    await a.fs.pipe(a.path, 'hello');
    const b = await urlToFs('memory://run/shared.txt');
    expect(new TextDecoder().decode(await b.fs.cat(b.path))).toBe('hello');
    const isolated: FileSystem = await filesystem('memory', { store: 'private' });
    expect(await isolated.exists('/run/shared.txt')).toBe(false);
  });

  it('picks keyed or flat storage options', () => {
    expect(optionsFor('s3', { s3: { region: 'x' }, gcs: { projectId: 'p' } })).toEqual({ region: 'x' });
    expect(optionsFor('s3a', { s3: { region: 'x' } })).toEqual({ region: 'x' });
    expect(optionsFor('gs', { gcs: { projectId: 'p' } })).toEqual({ projectId: 'p' });
    expect(optionsFor('s3', { region: 'flat' })).toEqual({ region: 'flat' });
    expect(optionsFor('s3', { gcs: { projectId: 'p' } })).toEqual({});
  });

  it('refuses options that mix protocol keys with flat ones, naming the stray keys, rather than drop them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'strata-registry-root-'));
    // The flat `root` used to be dropped, leaving the filesystem unconfined.
    const error = await urlToFs('file:///etc/hostname', { root, s3: { region: 'eu-west-1' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPathError);
    expect(error).toMatchObject({ code: 'EINVAL', protocol: 'file' });
    expect((error as Error).message).toContain('(root)');
    expect((error as Error).message).toContain('{ file: { root } }');
    expect((error as Error).message).not.toContain(root); // key names only, never values
    await expect(urlToFs('/etc/hostname', { root, memory: {} })).rejects.toBeInstanceOf(InvalidPathError);
    expect(() => optionsFor('s3', { s3: { region: 'x' }, secretAccessKey: 'hunter2' })).toThrow(/secretAccessKey/);
    expect(() => optionsFor('s3', { s3: { region: 'x' }, secretAccessKey: 'hunter2' })).not.toThrow(/hunter2/);
    // Each form alone still works; a key set to undefined is neither.
    const keyed = await urlToFs('file:///etc/hostname', { file: { root }, s3: { region: 'eu-west-1' } });
    await expect(keyed.fs.cat(keyed.path)).rejects.toBeInstanceOf(NotFoundError);
    const flat = await urlToFs('file:///etc/hostname', { root });
    await expect(flat.fs.cat(flat.path)).rejects.toBeInstanceOf(NotFoundError);
    expect(optionsFor('file', { root: undefined, file: { root } })).toEqual({ root });
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses prototype pollution through storage options', async () => {
    const hostile = JSON.parse('{"memory": {"__proto__": {"polluted": true}}}') as Record<string, unknown>;
    await expect(urlToFs('memory://x', hostile)).rejects.toBeInstanceOf(InvalidPathError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['s3:bucket/key', 'missing slashes'],
    ['memory://a/../../b', 'escaping ..'],
    ['memory://a/\0b', 'NUL byte'],
    ['cache::s3://b/k', 'chained'],
    ['1abc://x', 'bad scheme'],
    ['s3:/bucket/key', 'one slash'],
    ['memory://a/\uD800b', 'lone surrogate'],
  ])('gives a typed error for a malformed URL: %j (%s)', async (url) => {
    const error = await urlToFs(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toMatch(/^E/);
  });
});

describe('credentials in object-store URLs', () => {
  const SECRET = 'hunter2SuperSecretPw';

  it.each(['s3', 's3a', 'gs', 'gcs', 'az', 'abfs'])(
    '%s://user:password@bucket and bucket:port are InvalidPathError, the password in neither message nor path',
    async (protocol) => {
      for (const url of [`${protocol}://user:${SECRET}@bucket/key`, `${protocol}://AKIAEXAMPLE:${SECRET}@bucket`]) {
        const error = await urlToFs(url).catch((e: unknown) => e);
        expect(error, url).toBeInstanceOf(InvalidPathError);
        const { message, path } = error as InvalidPathError;
        expect(JSON.stringify({ message, path, error })).not.toContain(SECRET);
        expect(path).toMatch(/^\*\*\*@bucket/);
        expect(message).toContain(`${protocol}://***@bucket`);
      }
      await expect(urlToFs(`${protocol}://bucket:9000/key`)).rejects.toBeInstanceOf(InvalidPathError);
    },
  );

  it('leaves memory paths alone: ":" and "@" are ordinary there', async () => {
    const { fs, path } = await urlToFs(`memory://user:${SECRET}@bucket:9000/key`);
    expect(path).toBe(`/user:${SECRET}@bucket:9000/key`);
    await fs.pipe(path, 'x');
    expect(await fs.exists(path)).toBe(true);
  });
});

describe('lazy loading', () => {
  it('does not load any vendor SDK when only fs-core is imported and used', () => {
    // A resolve hook records every module the process asks for.
    const hook = `
      export async function resolve(spec, ctx, next) {
        const r = await next(spec, ctx);
        process.stderr.write('RESOLVED ' + r.url + '\\n');
        return r;
      }`;
    const probe = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const core = await import(${JSON.stringify(fsCoreDist)});
      const { fs, path } = await core.urlToFs('memory://probe/x');
      await fs.pipe(path, 'x');
      const local = await core.filesystem('file');
      await local.exists('/');
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const resolved = result.stderr.split('\n').filter((l) => l.startsWith('RESOLVED '));
    expect(resolved.some((l) => l.includes('fs-core/dist/index.js'))).toBe(true);
    expect(resolved.some((l) => l.includes('memfs'))).toBe(true);
    for (const sdk of ['@aws-sdk', '@google-cloud', '@azure', '@smithy', 'fs-s3', 'fs-gcs', 'fs-azure']) {
      expect(resolved.filter((l) => l.includes(sdk))).toEqual([]);
    }
  });
});

describe('instance cache', () => {
  it('never caches memory stores, so private stores stay private', async () => {
    const a = await filesystem('memory', { store: 'private' });
    const b = await filesystem('memory', { store: 'private' });
    expect(a).not.toBe(b);
  });
});
