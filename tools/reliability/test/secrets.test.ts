/**
 * No secret in any error: every error class is provoked on every backend with known (fake and
 * real test-server) secrets, and the message, the whole `cause` chain with SDK fields (`$response`,
 * request URLs and headers), JSON.stringify, util.inspect and anything written to the console are
 * searched for them.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { format } from 'node:util';

import { AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, generateAccountSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  FsError,
  InvalidPathError,
  IsADirectoryError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  ProtocolNotAvailableError,
  StorageError,
  TimeoutError,
  type FileSystem,
} from '@strata/fs-core';
import { createFileSystem as createAzureFs } from '@strata/fs-azure';
import { createFileSystem as createGcsFs } from '@strata/fs-gcs';
import { createFileSystem as createS3Fs } from '@strata/fs-s3';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { FaultProxy } from '../src/fault-proxy.js';
import { scanForSecrets, type SecretHit } from '../src/secret-scan.js';
import { azureServer, azuriteConnectionString, gcsServer, probe, s3Server, startProxy, uniqueName, type BackendName } from './support/backends.js';
import { report } from './support/report.js';

type ErrorClass = abstract new (...args: never[]) => FsError;
interface Provocation {
  label: string;
  /** The class the error must have (one of them, where backends legitimately differ). */
  expected: ErrorClass | ErrorClass[];
  run: () => Promise<unknown>;
}

const MiB = 1024 * 1024;

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/**
 * Everything written to the console or stdio while a block runs. vitest gives `console` streams of
 * its own, so its methods are watched as well as process.stdout and stderr.
 */
async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value: T; output: string }> {
  const chunks: string[] = [];
  const consoleSpies = CONSOLE_METHODS.map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void chunks.push(format(...args))),
  );
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const hook = (stream: NodeJS.WriteStream, original: typeof process.stdout.write) =>
    function (chunk: unknown, ...rest: unknown[]) {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    } as typeof process.stdout.write;
  process.stdout.write = hook(process.stdout, originals.out);
  process.stderr.write = hook(process.stderr, originals.err);
  try {
    const value = await fn();
    return { value, output: chunks.join('') };
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
    for (const spy of consoleSpies) spy.mockRestore();
  }
}

async function errorOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Provokes each error, checks its class, and collects every place a secret showed up. */
async function provokeAll(provocations: Provocation[], secrets: Record<string, string>): Promise<{ leaks: Array<SecretHit & { label: string }>; wrongClass: string[] }> {
  const leaks: Array<SecretHit & { label: string }> = [];
  const wrongClass: string[] = [];
  const { output } = await captureOutput(async () => {
    for (const p of provocations) {
      const error = await errorOf(p.run);
      const expected = Array.isArray(p.expected) ? p.expected : [p.expected];
      if (!expected.some((type) => error instanceof type)) {
        const got = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
        wrongClass.push(`${p.label}: expected ${expected.map((t) => t.name).join(' or ')}, got ${got}`);
      }
      for (const hit of scanForSecrets(error, secrets)) leaks.push({ ...hit, label: p.label });
    }
  });
  for (const hit of scanForSecrets(output, secrets)) leaks.push({ ...hit, label: 'console/stdio output', where: 'captured output' });
  return { leaks, wrongClass };
}

const describeLeaks = (leaks: Array<SecretHit & { label: string }>) => leaks.map((l) => `${l.label}: ${l.secret} at ${l.where}`);

/** Error classes every object store can be driven into through the FileSystem API alone. */
function commonProvocations(name: BackendName, fs: FileSystem, slowFs: FileSystem, proxy: FaultProxy, bucket: string, existing: string): Provocation[] {
  const read = name === 's3' ? 'GetObject' : name === 'gcs' ? 'Download' : 'Download';
  const head = name === 's3' ? 'HeadObject' : name === 'gcs' ? 'GetObject' : 'GetBlobProperties';
  return [
    { label: 'missing object', expected: NotFoundError, run: () => fs.info(`${bucket}/no/such/object`) },
    { label: 'missing object read', expected: NotFoundError, run: () => fs.cat(`${bucket}/no-such-object`) },
    { label: 'missing bucket', expected: NotFoundError, run: () => fs.ls(`strata-missing-${randomBytes(3).toString('hex')}/x`) },
    { label: 'create over existing', expected: AlreadyExistsError, run: () => fs.pipe(existing, 'again', { mode: 'create' }) },
    { label: 'NUL in path', expected: InvalidPathError, run: () => fs.info(`${bucket}/a\0b`) },
    { label: 'write at bucket root', expected: IsADirectoryError, run: () => fs.pipe(bucket, 'x') },
    {
      label: 'object changed under a read handle',
      expected: ConflictError,
      run: async () => {
        const path = `${bucket}/conflict-${randomBytes(3).toString('hex')}`;
        await fs.pipe(path, 'version 1');
        const handle = await fs.open(path, 'rb');
        await fs.pipe(path, 'version 2, longer');
        await handle.read();
      },
    },
    {
      label: 'stalled request times out',
      expected: TimeoutError,
      run: async () => {
        proxy.setRules([{ operation: head, fault: 'stall', times: 1 }]);
        try {
          await slowFs.info(existing);
        } finally {
          proxy.clearRules();
        }
      },
    },
    {
      label: 'aborted mid-request',
      expected: AbortError,
      run: async () => {
        proxy.setRules([{ operation: read, fault: 'stall', times: 1 }]);
        try {
          await slowFs.cat(existing, { signal: AbortSignal.timeout(200) });
        } finally {
          proxy.clearRules();
        }
      },
    },
    {
      label: 'server error (500)',
      expected: StorageError,
      run: async () => {
        proxy.setRules([{ operation: read, fault: '500' }]);
        try {
          await slowFs.cat(existing);
        } finally {
          proxy.clearRules();
        }
      },
    },
    {
      // The AWS SDK names socket resets "TimeoutError", so S3 reports this one as a TimeoutError.
      label: 'connection reset',
      expected: [StorageError, TimeoutError],
      run: async () => {
        proxy.setRules([{ operation: head, fault: 'reset-request' }]);
        try {
          await slowFs.info(existing);
        } finally {
          proxy.clearRules();
        }
      },
    },
  ];
}

describe('no secrets in errors or output', () => {
  const figures: Record<string, { provoked: number; leaks: number }> = {};
  afterAll(() => report('secrets', figures));

  it('the checks themselves see a secret in a cause chain and in console output (control)', async () => {
    const secret = `strataControlSecret${randomBytes(9).toString('hex')}`;
    const leaky: Provocation = {
      label: 'control',
      expected: StorageError,
      run: async () => {
        console.warn('request failed, key=%s', secret);
        throw new StorageError({ cause: Object.assign(new Error('inner'), { $response: { headers: { authorization: secret } } }) });
      },
    };
    const { leaks, wrongClass } = await provokeAll([leaky], { control: secret });
    expect(wrongClass).toEqual([]);
    expect(leaks.some((l) => l.label === 'console/stdio output'), 'console.warn seen').toBe(true);
    expect(leaks.some((l) => l.label === 'control'), 'cause chain searched').toBe(true);
  });

  describe('S3', () => {
    const FAKE_SECRET = `strataFakeS3Secret/${randomBytes(12).toString('base64url')}+key`;
    const FAKE_TOKEN = `strataFakeSessionToken${randomBytes(24).toString('base64url')}`;
    let proxy: FaultProxy;
    let bucket: string;
    const opened: FileSystem[] = [];
    const s3fs = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, origin: string, retry = { attempts: 1 }, extra = {}) => {
      const fs = createS3Fs({ endpoint: origin, region: s3Server().region, forcePathStyle: true, credentials, retry, ...extra });
      opened.push(fs);
      return fs;
    };

    beforeAll(async () => {
      bucket = uniqueName('rel-secrets-s3');
      const server = probe('s3');
      await server.createBucket(bucket);
      server.close();
      proxy = await startProxy('s3');
    });
    afterAll(async () => {
      await Promise.all(opened.map((fs) => fs.close()));
      await proxy?.close();
      const server = probe('s3');
      await server.destroyBucket(bucket).catch(() => undefined);
      server.close();
    });

    it('every error class, with the real secret key, a wrong secret key and a session token', async () => {
      const { accessKeyId, secretAccessKey } = s3Server();
      const good = s3fs({ accessKeyId, secretAccessKey }, proxy.url);
      const slow = s3fs({ accessKeyId, secretAccessKey }, proxy.url, { attempts: 1, timeoutMs: 1_000 } as { attempts: number });
      const wrongSecret = s3fs({ accessKeyId, secretAccessKey: FAKE_SECRET }, proxy.url, { attempts: 1 }, { partSize: 5 * MiB });
      const withToken = s3fs({ accessKeyId: 'AKIASTRATAFAKE000001', secretAccessKey: FAKE_SECRET, sessionToken: FAKE_TOKEN }, proxy.url);
      const existing = `${bucket}/existing.txt`;
      await good.pipe(existing, 'exists');
      const provocations: Provocation[] = [
        ...commonProvocations('s3', good, slow, proxy, bucket, existing),
        { label: 'wrong secret: info', expected: PermissionDeniedError, run: () => wrongSecret.info(existing) },
        { label: 'wrong secret: read', expected: PermissionDeniedError, run: () => wrongSecret.cat(existing) },
        { label: 'wrong secret: small write', expected: PermissionDeniedError, run: () => wrongSecret.pipe(`${bucket}/w.txt`, 'x') },
        { label: 'wrong secret: multipart write', expected: PermissionDeniedError, run: () => wrongSecret.pipe(`${bucket}/big.bin`, new Uint8Array(6 * MiB)) },
        { label: 'wrong secret: list', expected: PermissionDeniedError, run: () => wrongSecret.ls(bucket) },
        { label: 'session token: info', expected: PermissionDeniedError, run: () => withToken.info(existing) },
        { label: 'session token: read', expected: PermissionDeniedError, run: () => withToken.cat(existing) },
        { label: 'session token: write', expected: PermissionDeniedError, run: () => withToken.pipe(`${bucket}/t.txt`, 'x') },
        { label: 'key too long', expected: InvalidPathError, run: () => good.pipe(`${bucket}/${'k'.repeat(1100)}`, 'x') },
        {
          label: 'not implemented (501)',
          expected: NotSupportedError,
          run: async () => {
            proxy.setRules([{ operation: 'GetObject', fault: { kind: 'status', status: 501, code: 'NotImplemented' } }]);
            try {
              await good.cat(existing);
            } finally {
              proxy.clearRules();
            }
          },
        },
      ];
      const secrets = { 'S3 secret access key (MinIO)': secretAccessKey, 'fake S3 secret key': FAKE_SECRET, 'S3 session token': FAKE_TOKEN };
      const { leaks, wrongClass } = await provokeAll(provocations, secrets);
      figures['s3'] = { provoked: provocations.length, leaks: leaks.length };
      expect(wrongClass, 'each provocation produced its error class').toEqual([]);
      expect(leaks.length, `secrets found:\n${describeLeaks(leaks).join("\n")}`).toBe(0);
    });
  });

  describe('GCS', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const FAKE_TOKEN = `ya29.strataFakeAccessToken-${randomBytes(24).toString('base64url')}`;
    const credentials = { type: 'service_account', client_email: 'strata-fake@strata-test.iam.gserviceaccount.com', private_key: privateKey, project_id: 'strata-test' };
    let proxy: FaultProxy;
    let bucket: string;
    const opened: FileSystem[] = [];

    beforeAll(async () => {
      bucket = uniqueName('rel-secrets-gcs');
      const server = probe('gcs');
      await server.createBucket(bucket);
      server.close();
      proxy = await startProxy('gcs');
    });
    afterAll(async () => {
      await Promise.all(opened.map((fs) => fs.close()));
      await proxy?.close();
      const server = probe('gcs');
      await server.destroyBucket(bucket).catch(() => undefined);
      server.close();
    });

    /** A client that sends `FAKE_TOKEN` as its bearer token on every request (no token endpoint is ever asked). */
    const withToken = (retry: object) => {
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: FAKE_TOKEN, expiry_date: Date.now() + 3600_000, token_type: 'Bearer' });
      const storage = new Storage({ apiEndpoint: proxy.url, projectId: gcsServer().projectId, authClient, useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
      const fs = createGcsFs({ storage, retry });
      opened.push(fs);
      return fs;
    };

    it('every error class, with a service-account private key and an OAuth access token on the wire', async () => {
      const keyed = createGcsFs({ apiEndpoint: proxy.url, projectId: gcsServer().projectId, credentials, retry: { attempts: 1 } });
      const keyedSlow = createGcsFs({ apiEndpoint: proxy.url, projectId: gcsServer().projectId, credentials, retry: { attempts: 1, timeoutMs: 1_000 } });
      opened.push(keyed, keyedSlow);
      const token = withToken({ attempts: 1 });
      const tokenSlow = withToken({ attempts: 1, timeoutMs: 1_000 });
      const existing = `${bucket}/existing.txt`;
      await keyed.pipe(existing, 'exists');
      const provocations: Provocation[] = [
        ...commonProvocations('gcs', keyed, keyedSlow, proxy, bucket, existing).map((p) => ({ ...p, label: `key: ${p.label}` })),
        ...commonProvocations('gcs', token, tokenSlow, proxy, bucket, existing).map((p) => ({ ...p, label: `token: ${p.label}` })),
        { label: 'sign beyond 7 days', expected: NotSupportedError, run: () => keyed.sign!(existing, { expiresIn: 8 * 24 * 3600 }) },
        {
          label: 'token: resumable upload fails midway',
          expected: StorageError,
          run: async () => {
            proxy.setRules([{ operation: 'ResumableChunk', fault: '500' }]);
            try {
              const fs = withToken({ attempts: 1 });
              await fs.pipe(`${bucket}/resumable.bin`, new Uint8Array(9 * MiB));
            } finally {
              proxy.clearRules();
            }
          },
        },
        {
          label: 'token: permission denied (403)',
          expected: PermissionDeniedError,
          run: async () => {
            proxy.setRules([{ operation: ['GetObject', 'InsertObject'], fault: { kind: 'status', status: 403, code: 'forbidden' } }]);
            try {
              await token.info(existing);
            } finally {
              proxy.clearRules();
            }
          },
        },
      ];
      const pemBody = privateKey.split('\n').filter((line) => !line.startsWith('-----')).join('');
      const secrets = { 'GCS private key (PEM)': privateKey, 'GCS private key (base64 body)': pemBody.slice(100, 164), 'GCS OAuth access token': FAKE_TOKEN };
      const { leaks, wrongClass } = await provokeAll(provocations, secrets);
      figures['gcs'] = { provoked: provocations.length, leaks: leaks.length };
      expect(wrongClass, 'each provocation produced its error class').toEqual([]);
      expect(leaks.length, `secrets found:\n${describeLeaks(leaks).join("\n")}`).toBe(0);
    });
  });

  describe('Azure', () => {
    const FAKE_KEY = randomBytes(64).toString('base64');
    let proxy: FaultProxy;
    let bucket: string;
    const opened: FileSystem[] = [];

    beforeAll(async () => {
      bucket = uniqueName('rel-secrets-az');
      const server = probe('azure');
      await server.createBucket(bucket);
      server.close();
      proxy = await startProxy('azure');
    });
    afterAll(async () => {
      await Promise.all(opened.map((fs) => fs.close()));
      await proxy?.close();
      const server = probe('azure');
      await server.destroyBucket(bucket).catch(() => undefined);
      server.close();
    });

    const sas = (key: string) =>
      generateAccountSASQueryParameters(
        {
          expiresOn: new Date(Date.now() + 3600_000),
          permissions: AccountSASPermissions.parse('rwdlacup'),
          resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
          services: AccountSASServices.parse('b').toString(),
        },
        new StorageSharedKeyCredential(azureServer().accountName, key),
      ).toString();

    it('every error class, with the account key, a wrong account key and SAS tokens', async () => {
      const { accountName, accountKey } = azureServer();
      const goodSas = sas(accountKey);
      const badSas = sas(FAKE_KEY);
      const make = (options: object, retry: object = { attempts: 1 }) => {
        const fs = createAzureFs({ ...options, retry });
        opened.push(fs);
        return fs;
      };
      const keyed = make({ connectionString: azuriteConnectionString(proxy.url) });
      const keyedSlow = make({ connectionString: azuriteConnectionString(proxy.url) }, { attempts: 1, timeoutMs: 1_000 });
      const viaSas = make({ accountName, sasToken: goodSas, blobEndpoint: `${proxy.url}/${accountName}` });
      const viaSasSlow = make({ accountName, sasToken: goodSas, blobEndpoint: `${proxy.url}/${accountName}` }, { attempts: 1, timeoutMs: 1_000 });
      const sasConnection = make({ connectionString: `BlobEndpoint=${proxy.url}/${accountName};SharedAccessSignature=${goodSas}` });
      const wrongKey = make({ connectionString: azuriteConnectionString(proxy.url, FAKE_KEY) }, { attempts: 1 });
      const wrongSas = make({ accountName, sasToken: badSas, blobEndpoint: `${proxy.url}/${accountName}` });
      const existing = `${bucket}/existing.txt`;
      await keyed.pipe(existing, 'exists');
      const provocations: Provocation[] = [
        ...commonProvocations('azure', keyed, keyedSlow, proxy, bucket, existing).map((p) => ({ ...p, label: `key: ${p.label}` })),
        ...commonProvocations('azure', viaSas, viaSasSlow, proxy, bucket, existing).map((p) => ({ ...p, label: `SAS: ${p.label}` })),
        { label: 'SAS connection string: missing object', expected: NotFoundError, run: () => sasConnection.info(`${bucket}/nope`) },
        { label: 'wrong key: info', expected: PermissionDeniedError, run: () => wrongKey.info(existing) },
        { label: 'wrong key: read', expected: PermissionDeniedError, run: () => wrongKey.cat(existing) },
        { label: 'wrong key: write', expected: PermissionDeniedError, run: () => wrongKey.pipe(`${bucket}/w.txt`, 'x') },
        { label: 'wrong key: list', expected: PermissionDeniedError, run: () => wrongKey.ls(bucket) },
        { label: 'wrong SAS: read', expected: PermissionDeniedError, run: () => wrongSas.cat(existing) },
        { label: 'wrong SAS: staged write', expected: PermissionDeniedError, run: () => wrongSas.pipe(`${bucket}/big.bin`, new Uint8Array(9 * MiB)) },
        { label: 'SAS cannot sign', expected: NotSupportedError, run: () => viaSas.sign!(existing, { expiresIn: 60 }) },
        { label: 'account key without account name', expected: ProtocolNotAvailableError, run: async () => createAzureFs({ accountKey: FAKE_KEY }) },
      ];
      const sig = new URLSearchParams(goodSas).get('sig')!;
      const badSig = new URLSearchParams(badSas).get('sig')!;
      const secrets = { 'Azure account key (Azurite)': accountKey, 'fake Azure account key': FAKE_KEY, 'SAS token': goodSas, 'SAS signature': sig, 'wrong SAS signature': badSig };
      const { leaks, wrongClass } = await provokeAll(provocations, secrets);
      figures['azure'] = { provoked: provocations.length, leaks: leaks.length };
      expect(wrongClass, 'each provocation produced its error class').toEqual([]);
      expect(leaks.length, `secrets found:\n${describeLeaks(leaks).join("\n")}`).toBe(0);
    });
  });
});
