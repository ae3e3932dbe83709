/**
 * Malformed and odd URLs on every protocol's urlToFs: each gets a typed error or a documented
 * meaning (docs/RELIABILITY.md, "Hostile input"). Cloud protocols run against the loopback servers.
 */
import { resolve } from 'node:path';

import {
  FsError,
  InvalidPathError,
  IsADirectoryError,
  NotFoundError,
  ProtocolNotAvailableError,
  urlToFs,
  type FileSystem,
  type StorageOptions,
} from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { azuriteConnectionString, gcsServer, probe, s3Server, serverOrigin, uniqueName, type BackendName } from './support/backends.js';

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Every protocol name the registry knows, with the backend behind it. */
const CLOUD_PROTOCOLS: ReadonlyArray<[string, BackendName]> = [
  ['s3', 's3'],
  ['s3a', 's3'],
  ['gs', 'gcs'],
  ['gcs', 'gcs'],
  ['az', 'azure'],
  ['abfs', 'azure'],
  ['azure', 'azure'],
];
const LOCAL_PROTOCOLS = ['file', 'local', 'memory'] as const;

function storageOptions(): StorageOptions {
  const s3 = s3Server();
  return {
    s3: { endpoint: s3.endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, retry: { attempts: 2, baseDelayMs: 1 } },
    gs: { apiEndpoint: gcsServer().endpoint, projectId: gcsServer().projectId, retry: { attempts: 2, baseDelayMs: 1 } },
    az: { connectionString: azuriteConnectionString(serverOrigin('azure')), retry: { attempts: 2, baseDelayMs: 1 } },
  };
}

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

/** urlToFs, then one operation on the path it gave: either step may refuse. */
async function use(url: string, op: (fs: FileSystem, path: string) => Promise<unknown>): Promise<{ value?: unknown; error?: unknown; path?: string }> {
  let opened: { fs: FileSystem; path: string };
  try {
    opened = await urlToFs(url, storageOptions());
  } catch (error) {
    return { error };
  }
  try {
    return { ...(await settle(op(opened.fs, opened.path))), path: opened.path };
  } finally {
    await opened.fs.close();
  }
}

describe('malformed URLs on every protocol', () => {
  const protocols = [...CLOUD_PROTOCOLS.map(([p]) => p), ...LOCAL_PROTOCOLS];

  it('the empty string, a bare "://", a leading space and a one-colon form are InvalidPathError', async () => {
    for (const url of ['', '://x', ' s3://b/k', 's3:bucket/key', 'gs:bucket/key']) {
      const { error } = await settle(urlToFs(url, storageOptions()));
      expect(error, JSON.stringify(url)).toBeInstanceOf(InvalidPathError);
    }
  });

  it('an unknown protocol is ProtocolNotAvailableError naming the known ones; chained URLs are refused', async () => {
    const { error } = await settle(urlToFs('nosuch://bucket/key'));
    expect(error).toBeInstanceOf(ProtocolNotAvailableError);
    expect((error as Error).message).toMatch(/s3.*gs|gs.*s3/);
    expect((await settle(urlToFs('s3::gs://b/k'))).error).toBeInstanceOf(InvalidPathError);
  });

  it('a known protocol with a single slash is refused, not taken as a local path', async () => {
    // `s3:/bucket/key` is almost always a typo for s3://; writing it to ./s3:/bucket/key on the local disk would be silent data loss.
    for (const url of ['s3:/bucket/key', 'gs:/bucket/key', 'az:/container/blob', 'memory:/x']) {
      const { error, value } = await settle(urlToFs(url, storageOptions()));
      expect(error ?? `accepted as ${value?.fs.protocol}:${value?.path}`, url).toBeInstanceOf(InvalidPathError);
      await value?.fs.close();
    }
  });

  it('the scheme is case-insensitive', async () => {
    for (const [protocol] of CLOUD_PROTOCOLS) {
      const { fs, path } = await urlToFs(`${protocol.toUpperCase()}://bucket/k`, storageOptions());
      expect([fs.protocol, path]).toEqual([protocol, 'bucket/k']);
      await fs.close();
    }
  });

  it('a NUL byte anywhere is InvalidPathError on every protocol (it would truncate C strings and keys)', async () => {
    for (const protocol of protocols) {
      const { error } = await use(`${protocol}://bucket/a\0b`, (fs, path) => fs.info(path));
      expect(error, protocol).toBeInstanceOf(InvalidPathError);
    }
  });

  it('a lone UTF-16 surrogate cannot be encoded as UTF-8 and is InvalidPathError, not an I/O error', async () => {
    for (const protocol of protocols) {
      const { error } = await use(`${protocol}://bucket/a\ud800b`, (fs, path) => fs.pipe(path, 'x'));
      expect(error, protocol).toBeInstanceOf(InvalidPathError);
    }
  });

  it('`..` that climbs above the bucket (or the root) is InvalidPathError; inside, it resolves', async () => {
    for (const protocol of protocols) {
      // Object stores may not cross out of the bucket; posix paths may not climb above the root.
      // A relative local path is relative to the working directory (as in fsspec), so its `..` climbs from there.
      const cloud = CLOUD_PROTOCOLS.some(([p]) => p === protocol);
      const cwdRelative = protocol === 'file' || protocol === 'local';
      const urls = cloud
        ? [`${protocol}://bucket/../other/x`, `${protocol}://../x`, `${protocol}://bucket/a/../../x`]
        : cwdRelative
          ? [`${protocol}:///../x`, `${protocol}:///a/../../x`]
          : [`${protocol}://../x`, `${protocol}://a/../../x`, `${protocol}:///a/../../x`];
      for (const url of urls) {
        const { error } = await use(url, (fs, path) => fs.info(path));
        expect(error, url).toBeInstanceOf(InvalidPathError);
      }
      if (cwdRelative) expect((await urlToFs(`${protocol}://a/../../x`)).path, protocol).toBe(resolve('../x'));
    }
    for (const [protocol] of CLOUD_PROTOCOLS) {
      const { fs, path } = await urlToFs(`${protocol}://bucket/a/./b/../c`, storageOptions());
      expect(path, protocol).toBe('bucket/a/c');
      await fs.close();
    }
  });

  it('a URL of another protocol is refused by a filesystem', async () => {
    const { fs } = await urlToFs('s3://bucket/x', storageOptions());
    await expect(fs.info('gs://bucket/x')).rejects.toBeInstanceOf(InvalidPathError);
    await fs.close();
  });
});

describe.each([
  ['s3', 's3'],
  ['gs', 'gcs'],
  ['az', 'azure'],
] as const)('%s: odd names against the real server', (protocol, backend) => {
  let bucket: string;
  let fs: FileSystem;
  const server = () => probe(backend);

  beforeAll(async () => {
    bucket = uniqueName(`rel-hostile-${backend}`);
    const s = server();
    await s.createBucket(bucket);
    s.close();
    fs = (await urlToFs(`${protocol}://${bucket}`, storageOptions())).fs;
  });
  afterAll(async () => {
    await fs?.close();
    const s = server();
    await s.destroyBucket(bucket).catch(() => undefined);
    s.close();
  });

  const url = (key: string) => `${protocol}://${bucket}/${key}`;
  const names = async (prefix = '') => (await fs.ls(`${bucket}/${prefix}`)).map((e) => e.name.slice(bucket.length + 1));

  it('the bare service URL: S3 lists buckets, GCS and Azure have no bucket to name (InvalidPathError); nothing can be written there', async () => {
    const root = await use(`${protocol}://`, (f, path) => f.ls(path));
    if (backend === 's3') expect((root.value as { name: string }[]).map((e) => e.name)).toContain(bucket);
    else expect(root.error).toBeInstanceOf(InvalidPathError);
    const write = await use(`${protocol}://`, (f, path) => f.pipe(path, 'x'));
    expect(write.error).toBeInstanceOf(FsError);
    expect([IsADirectoryError, InvalidPathError].some((t) => write.error instanceof t)).toBe(true);
    const bucketWrite = await use(`${protocol}://${bucket}`, (f, path) => f.pipe(path, 'x'));
    expect(bucketWrite.error).toBeInstanceOf(IsADirectoryError);
  });

  it('a missing bucket is NotFoundError naming the bucket, for reads, writes and listings; extra leading slashes do not invent one', async () => {
    const missing = `strata-missing-${Date.now().toString(36)}`;
    for (const op of [(f: FileSystem, p: string) => f.info(p), (f: FileSystem, p: string) => f.cat(p), (f: FileSystem, p: string) => f.pipe(p, 'x'), (f: FileSystem, p: string) => f.ls(p)]) {
      const { error } = await use(`${protocol}://${missing}/key`, op);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain(missing);
    }
    // `s3:///key`: slashes collapse, so "key" is the bucket, which does not exist.
    const { error, path } = await use(`${protocol}:///${missing}`, (f, p) => f.info(p));
    expect(path).toBe(missing);
    expect(error).toBeInstanceOf(NotFoundError);
  });

  it('an invalid bucket name is InvalidPathError or NotFoundError, never a generic I/O error', async () => {
    for (const name of ['UPPER-Case', 'a', 'b'.repeat(70), 'under_score', '-dash-first']) {
      const { error } = await use(`${protocol}://${name}/key`, (f, p) => f.info(p));
      expect(error, name).toBeInstanceOf(FsError);
      expect(error instanceof InvalidPathError || error instanceof NotFoundError, `${name}: ${(error as Error).constructor.name}: ${(error as Error).message}`).toBe(true);
    }
  });

  it('percent-escapes are literal characters of the key: a%20b is not "a b", %2F is not a separator, %2e%2e is not ..', async () => {
    for (const key of ['a%20b', 'c%2Fd', '%2e%2e', 'e%00f']) {
      const { fs: f, path } = await urlToFs(url(key), storageOptions());
      expect(path).toBe(`${bucket}/${key}`);
      await f.pipe(path, `value of ${key}`);
      await f.close();
    }
    expect(await names()).toEqual(expect.arrayContaining(['%2e%2e', 'a%20b', 'c%2Fd', 'e%00f']));
    expect(await fs.exists(`${bucket}/a b`)).toBe(false);
    expect(await fs.exists(`${bucket}/c`)).toBe(false);
    expect(text(await fs.cat(`${bucket}/a%20b`))).toBe('value of a%20b');
  });

  it('unicode names round-trip byte-exact; NFC and NFD spellings are different keys', async () => {
    const nfc = 'café-\u00e9';
    const nfd = 'cafe\u0301-e\u0301';
    for (const key of [nfc, nfd, '日本語/ファイル', 'emoji-🎉', 'עברית-rtl', 'zero\u200bwidth']) await fs.pipe(`${bucket}/uni/${key}`, key);
    for (const key of [nfc, nfd, '日本語/ファイル', 'emoji-🎉', 'עברית-rtl', 'zero\u200bwidth']) expect(text(await fs.cat(`${bucket}/uni/${key}`)), key).toBe(key);
    expect(await names('uni')).toEqual(expect.arrayContaining([`uni/${nfc}`, `uni/${nfd}`]));
  });

  it('control characters and URL syntax inside keys stay inside the key (no header or query injection)', async () => {
    const keys = ['crlf\r\nX-Injected: 1', 'tab\tkey', 'q?versionId=1&x-id=GetObject', 'hash#frag', 'back\\slash', 'semi;colon'];
    for (const key of keys) {
      await fs.pipe(`${bucket}/ctl/${key}`, `v:${key}`);
      expect(text(await fs.cat(`${bucket}/ctl/${key}`)), JSON.stringify(key)).toBe(`v:${key}`);
      expect((await fs.info(`${bucket}/ctl/${key}`)).size).toBe(utf8.encode(`v:${key}`).length);
    }
    // Azurite answers HTTP 500 to any listing of a container that holds a name with CR/LF (real Azure XML-encodes such names).
    if (backend !== 'azure') expect((await names('ctl')).length).toBe(keys.length);
  });

  it('very long keys: the store decides, and a refusal is InvalidPathError', async () => {
    for (const length of [255, 1024, 1025, 4096]) {
      const key = `long/${'k'.repeat(length)}`;
      const { error } = await settle(fs.pipe(`${bucket}/${key}`, 'x'));
      if (error === undefined) expect(text(await fs.cat(`${bucket}/${key}`)), `${length}`).toBe('x');
      else expect(error, `${length}: ${(error as Error).message}`).toBeInstanceOf(InvalidPathError);
    }
  });
});

describe('Azure URLs that name an account', () => {
  it('a URL naming the configured account is that account; one naming another account is refused, not served by this one', async () => {
    const same = await urlToFs('abfs://data@devstoreaccount1.dfs.core.windows.net/dir/x', storageOptions());
    expect(same.path).toBe('data/dir/x');
    await same.fs.close();
    const other = await use('abfs://data@otheraccount.dfs.core.windows.net/dir/x', (f, p) => f.info(p));
    expect(other.error ?? `served as ${other.path} by the configured account`).toBeInstanceOf(InvalidPathError);
    expect((await settle(urlToFs('az://c@not-a-host/x', storageOptions()))).error).toBeInstanceOf(InvalidPathError);
  });

  it('urlToFs gives a normalised path for account URLs too', async () => {
    const { fs, path } = await urlToFs('abfs://data@devstoreaccount1.dfs.core.windows.net/a/./b/../c', storageOptions());
    expect(path).toBe('data/a/c');
    await fs.close();
    expect((await use('abfs://data@devstoreaccount1.dfs.core.windows.net/../x', (f, p) => f.info(p))).error).toBeInstanceOf(InvalidPathError);
  });
});

describe('memory and file: odd names', () => {
  it('memory keeps percent-escapes and unicode literal and refuses escapes above its root', async () => {
    const { fs } = await urlToFs('memory://');
    await fs.pipe('memory://hostile/a%20b', '1');
    await fs.pipe('memory://hostile/caf\u00e9', '2');
    await fs.pipe('memory://hostile/cafe\u0301', '3');
    expect((await fs.ls('/hostile')).map((e) => e.name)).toEqual(['/hostile/a%20b', '/hostile/caf\u00e9', '/hostile/cafe\u0301'].sort());
    await expect(fs.info('memory://hostile/../../x')).rejects.toBeInstanceOf(InvalidPathError);
    await fs.rm('/hostile', { recursive: true });
  });

  it('a local name longer than the OS allows is InvalidPathError', async () => {
    const { fs, path } = await urlToFs(`file:///tmp/strata-${'n'.repeat(300)}`);
    await expect(fs.pipe(path, 'x')).rejects.toBeInstanceOf(InvalidPathError);
  });
});
