import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  StorageError,
  type FileSystem,
} from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Adapter } from '../src/index.js';
import {
  clientFailingFirst,
  createBucket,
  destroyBucket,
  eachLimit,
  makeFs,
  MiB,
  openUploads,
  patternBytes,
  rawClient,
  server,
  serverOptions,
  uniqueName,
} from './helpers.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

let client: S3Client;
let bucket: string;
let fs: FileSystem;

beforeAll(async () => {
  client = rawClient();
  bucket = await createBucket(client);
  // 5 MiB parts (the S3 minimum) keep multipart tests small.
  fs = makeFs({ partSize: 5 * MiB, uploadConcurrency: 3 });
});

afterAll(async () => {
  await fs?.close();
  if (bucket) await destroyBucket(client, bucket);
  client?.destroy();
});

describe('multipart writes', () => {
  it('streams a write above the part size as a multipart upload and keeps every byte', async () => {
    const path = `${bucket}/multi/data.bin`;
    const size = 12 * MiB + 12_345;
    const data = patternBytes(size, 1);
    const handle = await fs.open(path, 'wb');
    // Odd chunk sizes so part boundaries fall inside chunks.
    for (let offset = 0; offset < size; offset += 777_777) await handle.write(data.subarray(offset, offset + 777_777));
    expect(await fs.exists(path)).toBe(false); // nothing visible before commit
    await handle.commit();

    const info = await fs.info(path);
    expect(info.size).toBe(size);
    expect(info.etag).toMatch(/-3"$/); // three parts: 5 + 5 + 2 MiB
    expect(Buffer.from(await fs.cat(path)).equals(Buffer.from(data))).toBe(true);
    const across = await fs.cat(path, { start: 5 * MiB - 10, end: 5 * MiB + 10 });
    expect(Buffer.from(across).equals(Buffer.from(data.subarray(5 * MiB - 10, 5 * MiB + 10)))).toBe(true);
  });

  it('writes a small object with one PUT', async () => {
    const path = `${bucket}/small/one.txt`;
    await fs.pipe(path, 'small body');
    const info = await fs.info(path);
    expect(info.etag).not.toMatch(/-\d+"$/);
    expect(text(await fs.cat(path))).toBe('small body');
  });

  it('abort leaves no multipart upload and no object', async () => {
    const key = `aborted/${uniqueName('obj')}`;
    const handle = await fs.open(`${bucket}/${key}`, 'wb');
    await handle.write(patternBytes(11 * MiB, 2));
    expect(await openUploads(client, bucket, key)).toHaveLength(1); // the upload really was open
    await handle.abort();
    expect(await openUploads(client, bucket, key)).toEqual([]);
    expect(await fs.exists(`${bucket}/${key}`)).toBe(false);
  });

  it('disposal without commit leaves no multipart upload', async () => {
    const key = `disposed/${uniqueName('obj')}`;
    const handle = await fs.open(`${bucket}/${key}`, 'wb');
    try {
      await handle.write(patternBytes(6 * MiB, 3));
      expect(await openUploads(client, bucket, key)).toHaveLength(1);
    } finally {
      await handle[Symbol.asyncDispose]();
    }
    expect(await openUploads(client, bucket, key)).toEqual([]);
    expect(await fs.exists(`${bucket}/${key}`)).toBe(false);
  });

  it('an error mid-write (caller abort signal) leaves no multipart upload', async () => {
    const key = `errored/${uniqueName('obj')}`;
    const controller = new AbortController();
    const handle = await fs.open(`${bucket}/${key}`, 'wb', { signal: controller.signal });
    await handle.write(patternBytes(6 * MiB, 4));
    expect(await openUploads(client, bucket, key)).toHaveLength(1);
    controller.abort();
    await expect(handle.write(patternBytes(6 * MiB, 5))).rejects.toThrow();
    await handle.abort();
    expect(await openUploads(client, bucket, key)).toEqual([]);
    expect(await fs.exists(`${bucket}/${key}`)).toBe(false);
  });

  it('a part that fails for good aborts the upload and leaves nothing behind', async () => {
    const key = `part-fail/${uniqueName('obj')}`;
    const failing = clientFailingFirst('UploadPartCommand', 'before');
    const noRetries = makeFs({ client: failing, partSize: 5 * MiB, retry: { attempts: 1 } });
    try {
      const handle = await noRetries.open(`${bucket}/${key}`, 'wb');
      const wrote = (async () => {
        await handle.write(patternBytes(11 * MiB, 7));
        await handle.commit();
      })();
      await expect(wrote).rejects.toSatisfy((e) => e instanceof StorageError && e.retryable);
      expect(await openUploads(client, bucket, key)).toEqual([]);
      expect(await fs.exists(`${bucket}/${key}`)).toBe(false);
    } finally {
      await noRetries.close();
      failing.destroy();
    }
  });

  it('a failed create-only multipart commit leaves no upload behind', async () => {
    const key = `create-fail/${uniqueName('obj')}`;
    await fs.pipe(`${bucket}/${key}`, 'first');
    const handle = await fs.open(`${bucket}/${key}`, 'xb');
    await handle.write(patternBytes(7 * MiB, 6));
    await expect(handle.commit()).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await openUploads(client, bucket, key)).toEqual([]);
    expect(text(await fs.cat(`${bucket}/${key}`))).toBe('first');
  });
});

describe('lost answers', () => {
  for (const mode of ['create', 'overwrite'] as const) {
    it(`a retried multipart commit (${mode}) recognises its own object`, async () => {
      const key = `lost/multi-${mode}-${uniqueName('k')}`;
      const lossy = clientFailingFirst('CompleteMultipartUploadCommand', 'after');
      const retrying = makeFs({ client: lossy, partSize: 5 * MiB, retry: { attempts: 3, baseDelayMs: 1 } });
      try {
        const data = patternBytes(7 * MiB, 40);
        const handle = await retrying.open(`${bucket}/${key}`, mode === 'create' ? 'xb' : 'wb');
        await handle.write(data);
        await handle.commit();
        expect(Buffer.from(await fs.cat(`${bucket}/${key}`)).equals(Buffer.from(data))).toBe(true);
        expect(await openUploads(client, bucket, key)).toEqual([]);
      } finally {
        await retrying.close();
        lossy.destroy();
      }
    });
  }

  it('a retried create-only PUT recognises its own object', async () => {
    const key = `lost/put-${uniqueName('k')}`;
    const lossy = clientFailingFirst('PutObjectCommand', 'after');
    const retrying = makeFs({ client: lossy, retry: { attempts: 3, baseDelayMs: 1 } });
    try {
      await retrying.pipe(`${bucket}/${key}`, 'mine', { mode: 'create' });
      expect(text(await fs.cat(`${bucket}/${key}`))).toBe('mine');
    } finally {
      await retrying.close();
      lossy.destroy();
    }
  });

  it('a retried create-only PUT whose ownership check fails once still recognises its own object', async () => {
    const key = `lost/put-check-${uniqueName('k')}`;
    const lossy = clientFailingFirst('PutObjectCommand', 'after');
    let putLost = false;
    let checkFailed = false;
    lossy.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') {
          try {
            return await next(args);
          } catch (error) {
            putLost = true;
            throw error;
          }
        }
        // The HEAD that asks whose object is in the way fails once with a reset.
        if (context.commandName === 'HeadObjectCommand' && putLost && !checkFailed) {
          checkFailed = true;
          throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failOwnershipCheck', priority: 'high' },
    );
    const retrying = makeFs({ client: lossy, retry: { attempts: 4, baseDelayMs: 1 } });
    try {
      await retrying.pipe(`${bucket}/${key}`, 'mine', { mode: 'create' });
      expect(checkFailed).toBe(true);
      expect(text(await fs.cat(`${bucket}/${key}`))).toBe('mine');
    } finally {
      await retrying.close();
      lossy.destroy();
    }
  });

  it('a retried create-only PUT still loses to another writer that got in first', async () => {
    const key = `lost/put-other-${uniqueName('k')}`;
    const lossy = clientFailingFirst('PutObjectCommand', 'before', () => fs.pipe(`${bucket}/${key}`, 'theirs'));
    const retrying = makeFs({ client: lossy, retry: { attempts: 3, baseDelayMs: 1 } });
    try {
      await expect(retrying.pipe(`${bucket}/${key}`, 'mine', { mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(text(await fs.cat(`${bucket}/${key}`))).toBe('theirs');
    } finally {
      await retrying.close();
      lossy.destroy();
    }
  });
});

describe('create-only writes', () => {
  it('xb on an existing key fails with AlreadyExistsError and keeps the old object', async () => {
    const path = `${bucket}/create/existing.txt`;
    await fs.pipe(path, 'old');
    await expect(fs.pipe(path, 'new', { mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(text(await fs.cat(path))).toBe('old');
  });

  it('two single-PUT writers racing for one key: exactly one wins', async () => {
    const path = `${bucket}/race/small-${uniqueName('k')}`;
    const results = await Promise.allSettled(['writer-a', 'writer-b'].map((body) => fs.pipe(path, body, { mode: 'create' })));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(AlreadyExistsError);
    expect(text(await fs.cat(path))).toBe(won[0] === 0 ? 'writer-a' : 'writer-b');
  });

  it('two multipart writers racing for one key: exactly one wins, no upload is left', async () => {
    const key = `race/multi-${uniqueName('k')}`;
    const size = 6 * MiB;
    const bodies = [patternBytes(size, 10), patternBytes(size, 11)];
    const handles = await Promise.all(bodies.map(() => fs.open(`${bucket}/${key}`, 'xb')));
    await Promise.all(handles.map((h, i) => h.write(bodies[i]!)));
    const results = await Promise.allSettled(handles.map((h) => h.commit()));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(AlreadyExistsError);
    const stored = await fs.cat(`${bucket}/${key}`);
    expect(Buffer.from(stored).equals(Buffer.from(bodies[won[0]!]!))).toBe(true);
    expect(await openUploads(client, bucket, key)).toEqual([]);
  });
});

describe('listings', () => {
  const count = 2_500;

  it(`paginates over ${count} keys in ls, find, du and recursive rm`, async () => {
    const base = `${bucket}/many`;
    const names = Array.from({ length: count }, (_, i) => `k${String(i).padStart(5, '0')}`);
    // Three sub-directories too, so shallow listings mix pages of keys and common prefixes.
    await eachLimit([...names, 'sub1/x', 'sub2/y', 'sub3/z'], 16, (name) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: `many/${name}`, Body: 'x' })).then(() => undefined),
    );

    const listed = await fs.ls(base);
    expect(listed).toHaveLength(count + 3);
    expect(listed.filter((e) => e.type === 'directory').map((e) => e.name)).toEqual([`${base}/sub1`, `${base}/sub2`, `${base}/sub3`]);
    const found = await fs.find(base);
    expect(found).toHaveLength(count + 3);
    expect(found[0]).toBe(`${base}/k00000`);
    expect(found[count - 1]).toBe(`${base}/k02499`);
    expect(await fs.du(base)).toBe(count + 3);

    await fs.rm(base, { recursive: true });
    expect(await fs.find(base)).toEqual([]);
    expect(await fs.exists(base)).toBe(false);
  });

  it('reports a prefix as a directory and ignores folder-marker keys', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'markers/dir/', Body: '' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'markers/dir/file.txt', Body: 'f' }));
    expect((await fs.info(`${bucket}/markers`)).type).toBe('directory');
    expect(await fs.ls(`${bucket}/markers`)).toEqual([{ name: `${bucket}/markers/dir`, type: 'directory', size: 0 }]);
    expect(await fs.find(`${bucket}/markers`)).toEqual([`${bucket}/markers/dir/file.txt`]);
  });

  it('info on the bucket root is a directory', async () => {
    expect(await fs.info(bucket)).toMatchObject({ name: bucket, type: 'directory' });
  });
});

describe('missing buckets', () => {
  it('exists is false, info and ls throw NotFoundError naming the bucket', async () => {
    const missing = uniqueName('strata-missing');
    expect(await fs.exists(`${missing}/some/key`)).toBe(false);
    expect(await fs.exists(missing)).toBe(false);
    await expect(fs.info(missing)).rejects.toSatisfy((e) => e instanceof NotFoundError && e.message.includes(missing));
    await expect(fs.ls(`${missing}/dir`)).rejects.toSatisfy((e) => e instanceof NotFoundError && e.message.includes(missing));
    await expect(fs.cat(`${missing}/key`)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('wrong credentials', () => {
  const wrongSecret = 'definitely-not-the-secret-key-0123456789';
  let bad: FileSystem;
  beforeAll(async () => {
    await fs.pipe(`${bucket}/auth/file.txt`, 'secret data');
    bad = makeFs({ credentials: { accessKeyId: server().accessKeyId, secretAccessKey: wrongSecret } });
  });
  afterAll(() => bad?.close());

  const denied = (e: unknown) =>
    e instanceof PermissionDeniedError && !e.message.includes(wrongSecret) && !e.message.includes(server().secretAccessKey);

  it('exists throws PermissionDeniedError instead of returning false (HEAD 403 has no body)', async () => {
    await expect(bad.exists(`${bucket}/auth/file.txt`)).rejects.toSatisfy(denied);
    await expect(bad.exists(`${bucket}/auth/missing.txt`)).rejects.toSatisfy(denied);
    await expect(bad.exists(bucket)).rejects.toSatisfy(denied);
  });

  it('cat, ls and writes throw PermissionDeniedError', async () => {
    await expect(bad.cat(`${bucket}/auth/file.txt`)).rejects.toSatisfy(denied);
    await expect(bad.ls(`${bucket}/auth`)).rejects.toSatisfy(denied);
    await expect(bad.pipe(`${bucket}/auth/new.txt`, 'x')).rejects.toSatisfy(denied);
  });
});

describe('reads', () => {
  it('a read handle pinned to an ETag fails with ConflictError after an overwrite', async () => {
    const path = `${bucket}/pinned/file.bin`;
    await fs.pipe(path, patternBytes(64 * 1024, 20));
    const small = makeFs({ blockSize: 4096 });
    try {
      const handle = await small.open(path, 'rb');
      expect(Buffer.from(await handle.read(100)).equals(Buffer.from(patternBytes(100, 20)))).toBe(true);
      await fs.pipe(path, patternBytes(64 * 1024, 21));
      handle.seek(32 * 1024);
      await expect(handle.read(100)).rejects.toBeInstanceOf(ConflictError);
      await handle.close();
    } finally {
      await small.close();
    }
  });

  it('the adapter refuses a stale ETag on read and readStream', async () => {
    const path = `${bucket}/pinned/adapter.txt`;
    await fs.pipe(path, 'version one');
    const adapter = new S3Adapter(serverOptions());
    try {
      const { etag } = await adapter.head(path, {});
      expect(text(await adapter.read(path, 0, 7, { etag }))).toBe('version');
      await fs.pipe(path, 'version two');
      await expect(adapter.read(path, 0, 7, { etag })).rejects.toBeInstanceOf(ConflictError);
      await expect(adapter.read(path, 100, undefined, { etag })).rejects.toBeInstanceOf(ConflictError);
      const stream = adapter.readStream(path, 0, undefined, { etag });
      await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toBeInstanceOf(ConflictError);
    } finally {
      await adapter.close();
    }
  });

  it('range reads clamp to the size and return nothing past the end', async () => {
    const path = `${bucket}/ranges/file.txt`;
    await fs.pipe(path, '0123456789');
    expect(text(await fs.cat(path, { start: 2, end: 5 }))).toBe('234');
    expect(text(await fs.cat(path, { start: 7, end: 100 }))).toBe('789');
    expect(text(await fs.cat(path, { start: -3 }))).toBe('789');
    expect(await fs.cat(path, { start: 10 })).toHaveLength(0);
    await fs.pipe(`${bucket}/ranges/empty`, '');
    expect(await fs.cat(`${bucket}/ranges/empty`, { start: 0, end: 10 })).toHaveLength(0);
    const parts = await fs.catRanges([path, path, path], [0, 4, 8], [2, 6, 10]);
    expect(parts.map(text)).toEqual(['01', '45', '89']);
  });
});

describe('copy, sign, protocols, clients', () => {
  it('cp copies server-side, multipart above the copy threshold, with bytes intact', async () => {
    const src = `${bucket}/copy/src.bin`;
    const data = patternBytes(11 * MiB + 3, 30);
    await fs.pipe(src, data);
    // Lower the 5 GiB threshold so UploadPartCopy runs on an 11 MiB object: parts of 5, 5 and 1 MiB.
    const copier = makeFs({ multipartCopyThreshold: 6 * MiB, copyPartSize: 5 * MiB });
    try {
      await copier.cp(src, `${bucket}/copy/multipart.bin`);
      await fs.cp(src, `${bucket}/copy/single.bin`);
    } finally {
      await copier.close();
    }
    const multi = await fs.info(`${bucket}/copy/multipart.bin`);
    expect(multi.etag).toMatch(/-3"$/);
    expect(Buffer.from(await fs.cat(`${bucket}/copy/multipart.bin`)).equals(Buffer.from(data))).toBe(true);
    expect(Buffer.from(await fs.cat(`${bucket}/copy/single.bin`)).equals(Buffer.from(data))).toBe(true);
    await expect(fs.cp(`${bucket}/copy/nothing`, `${bucket}/copy/x`)).rejects.toBeInstanceOf(NotFoundError);

    // CopySource is a URL path: keys with spaces, '+', '%', '?' and non-ASCII must survive it.
    const odd = `${bucket}/copy/odd name+plus%25 ?ü.txt`;
    await fs.pipe(odd, 'odd key');
    await fs.cp(odd, `${bucket}/copy/odd copy ü.txt`);
    expect(text(await fs.cat(`${bucket}/copy/odd copy ü.txt`))).toBe('odd key');
  });

  it('mv is copy then delete', async () => {
    await fs.pipe(`${bucket}/move/a.txt`, 'moving');
    await fs.mv(`${bucket}/move/a.txt`, `${bucket}/move/b.txt`);
    expect(await fs.exists(`${bucket}/move/a.txt`)).toBe(false);
    expect(text(await fs.cat(`${bucket}/move/b.txt`))).toBe('moving');
  });

  it('sign returns a presigned GET URL that plain fetch can read', async () => {
    const path = `${bucket}/signed/hello.txt`;
    await fs.pipe(path, 'hello over a signed url');
    const url = await fs.sign!(path, { expiresIn: 300 });
    expect(url).toContain('X-Amz-Signature=');
    expect(url).not.toContain(server().secretAccessKey);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello over a signed url');
    await expect(fs.sign!(path, { expiresIn: 8 * 24 * 3600 })).rejects.toBeInstanceOf(NotSupportedError);
  });

  it('s3a:// names the same objects, and either URL form is accepted', async () => {
    await fs.pipe(`${bucket}/proto/file.txt`, 'same object');
    const s3a = makeFs({}, 's3a');
    try {
      expect(s3a.protocol).toBe('s3a');
      expect(text(await s3a.cat(`s3a://${bucket}/proto/file.txt`))).toBe('same object');
      expect(text(await s3a.cat(`s3://${bucket}/proto/file.txt`))).toBe('same object');
      expect(s3a.unstripProtocol(`${bucket}/proto/file.txt`)).toBe(`s3a://${bucket}/proto/file.txt`);
    } finally {
      await s3a.close();
    }
  });

  it('uses an injected client as is and leaves it open on close', async () => {
    const injected = rawClient();
    const withClient = makeFs({ client: injected });
    await withClient.pipe(`${bucket}/injected/file.txt`, 'via injected client');
    await withClient.close();
    const got = await injected.send(new GetObjectCommand({ Bucket: bucket, Key: 'injected/file.txt' }));
    expect(await got.Body!.transformToString()).toBe('via injected client');
    injected.destroy();
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3 and defaults the region when only an endpoint is set', async () => {
    const s = server();
    const saved = { ...process.env };
    try {
      for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_PROFILE']) delete process.env[name];
      process.env.AWS_CONFIG_FILE = '/nonexistent/strata-aws-config';
      process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/strata-aws-credentials';
      process.env.AWS_ENDPOINT_URL_S3 = s.endpoint;
      process.env.AWS_ACCESS_KEY_ID = s.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = s.secretAccessKey;
      const adapter = new S3Adapter({});
      try {
        expect(await adapter.client.config.region()).toBe('us-east-1');
        expect(adapter.client.config.forcePathStyle).toBe(true);
        expect((await adapter.head(bucket, {})).type).toBe('directory');
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'env-endpoint/file.txt', Body: 'from the env' }));
        expect((await adapter.head(`${bucket}/env-endpoint/file.txt`, {})).size).toBe('from the env'.length);
      } finally {
        await adapter.close();
      }
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('rejects a part size below the S3 minimum', () => {
    expect(() => new S3Adapter({ ...serverOptions(), partSize: MiB })).toThrow(RangeError);
  });
});
