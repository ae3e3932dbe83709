#!/usr/bin/env node
// Starts all three servers, makes real requests to each (including the conditional-create checks the
// backends rely on), checks that no server opened a connection off the loopback, stops them and
// prints a summary. Exit code 1 if any check failed.
//
//   node tools/test-servers/selftest.js
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import process from 'node:process';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';

import { pythonPath, startAzurite, startGcsServer, startS3Server } from './index.js';

const results = [];

async function check(name, body) {
  const startedAt = performance.now();
  try {
    const detail = await body();
    results.push({ name, ok: true, ms: performance.now() - startedAt, detail });
  } catch (error) {
    results.push({ name, ok: false, ms: performance.now() - startedAt, detail: error?.stack ?? String(error) });
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function sameBytes(a, b) {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Runs `body` expecting an SDK error with this HTTP status; returns the error's name. */
async function expectHttpStatus(status, body) {
  try {
    await body();
  } catch (error) {
    const actual = error?.$metadata?.httpStatusCode ?? error?.statusCode;
    assert(actual === status, `expected HTTP ${status}, got ${actual} (${error?.name}: ${error?.message})`);
    return `${status} ${error?.name ?? error?.code}`;
  }
  throw new Error(`expected HTTP ${status}, but the request succeeded`);
}

async function multipartUpload(client, bucket, key, body, { ifNoneMatch } = {}) {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const part = await client.send(
    new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: body }),
  );
  return {
    complete: () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          IfNoneMatch: ifNoneMatch,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      ),
    abort: () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })),
  };
}

async function checkS3(s3) {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const bucket = 'selftest';
  const payload = randomBytes(1024);
  try {
    await check('s3: create bucket, put, get', async () => {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/plain.bin', Body: payload }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/plain.bin' }));
      assert(sameBytes(await got.Body.transformToByteArray(), payload), 'GetObject returned other bytes');
      return `${payload.length} bytes round-tripped`;
    });
    await check('s3: PutObject If-None-Match:* on existing key -> 412', async () => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'create.bin', Body: payload, IfNoneMatch: '*' }));
      const status = await expectHttpStatus(412, () =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'create.bin', Body: 'other', IfNoneMatch: '*' })),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'create.bin' }));
      assert(sameBytes(await got.Body.transformToByteArray(), payload), 'the refused put changed the object');
      return status;
    });
    await check('s3: CompleteMultipartUpload If-None-Match:* on existing key -> 412', async () => {
      const upload = await multipartUpload(client, bucket, 'create.bin', Buffer.from('multipart'), { ifNoneMatch: '*' });
      try {
        return await expectHttpStatus(412, upload.complete);
      } finally {
        await upload.abort().catch(() => {});
      }
    });
    await check('s3: two racing conditional multipart uploads -> first wins, second 412', async () => {
      const first = await multipartUpload(client, bucket, 'race.bin', Buffer.from('first'), { ifNoneMatch: '*' });
      const second = await multipartUpload(client, bucket, 'race.bin', Buffer.from('second'), { ifNoneMatch: '*' });
      await first.complete();
      const status = await expectHttpStatus(412, second.complete);
      await second.abort().catch(() => {});
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'race.bin' }));
      const text = Buffer.from(await got.Body.transformToByteArray()).toString();
      assert(text === 'first', `expected the first upload's bytes, got ${JSON.stringify(text)}`);
      return status;
    });
  } finally {
    client.destroy();
  }
}

async function gcsFetch(url, init, expectedStatus) {
  const response = await fetch(url, init);
  const body = new Uint8Array(await response.arrayBuffer());
  assert(
    response.status === expectedStatus,
    `${init?.method ?? 'GET'} ${url} answered ${response.status}, expected ${expectedStatus}: ${Buffer.from(body).toString().slice(0, 300)}`,
  );
  return { response, body };
}

async function checkGcs(gcs) {
  const bucket = 'selftest';
  const payload = randomBytes(1024);
  const json = { 'content-type': 'application/json' };
  await check('gcs: create bucket, media upload, download', async () => {
    await gcsFetch(`${gcs.endpoint}/storage/v1/b?project=${gcs.projectId}`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: bucket }),
    }, 200);
    await gcsFetch(`${gcs.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=dir%2Fplain.bin`, {
      method: 'POST',
      body: payload,
    }, 200);
    const { body } = await gcsFetch(`${gcs.endpoint}/download/storage/v1/b/${bucket}/o/dir%2Fplain.bin?alt=media`, {}, 200);
    assert(sameBytes(body, payload), 'download returned other bytes');
    return `${payload.length} bytes round-tripped`;
  });
  await check('gcs: upload with ifGenerationMatch=0 on existing object -> 412', async () => {
    const url = `${gcs.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=create.bin&ifGenerationMatch=0`;
    await gcsFetch(url, { method: 'POST', body: payload }, 200);
    await gcsFetch(url, { method: 'POST', body: 'other' }, 412);
    return '412';
  });
  await check('gcs: resumable upload session comes back to this server', async () => {
    const { response } = await gcsFetch(
      `${gcs.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=resumable.bin`,
      { method: 'POST', headers: json, body: JSON.stringify({ name: 'resumable.bin' }) },
      200,
    );
    const location = response.headers.get('location');
    assert(location?.startsWith(`${gcs.endpoint}/`), `session URL ${location} does not point at ${gcs.endpoint}`);
    await gcsFetch(location, { method: 'PUT', body: payload }, 200);
    const { body } = await gcsFetch(`${gcs.endpoint}/download/storage/v1/b/${bucket}/o/resumable.bin?alt=media`, {}, 200);
    assert(sameBytes(body, payload), 'resumable upload stored other bytes');
    return `session at ${new URL(location).host}`;
  });
}

async function checkAzure(azure) {
  const service = BlobServiceClient.fromConnectionString(azure.connectionString);
  const container = service.getContainerClient('selftest');
  await check('azure: create container, stage + commit blocks, download', async () => {
    await container.create();
    const blob = container.getBlockBlobClient('dir/blocks.bin');
    const blockIds = ['block-0', 'block-1'].map((id) => Buffer.from(id).toString('base64'));
    const halves = [randomBytes(512), randomBytes(512)];
    await blob.stageBlock(blockIds[0], halves[0], halves[0].length);
    await blob.stageBlock(blockIds[1], halves[1], halves[1].length);
    const before = await blob.exists();
    assert(!before, 'staged blocks became visible before commitBlockList');
    await blob.commitBlockList(blockIds);
    const downloaded = await blob.downloadToBuffer();
    assert(sameBytes(downloaded, Buffer.concat(halves)), 'download returned other bytes');
    return `${downloaded.length} bytes via 2 blocks`;
  });
  await check('azure: commitBlockList If-None-Match:* on existing blob -> 409', async () => {
    const blob = container.getBlockBlobClient('dir/blocks.bin');
    const blockId = Buffer.from('block-2').toString('base64');
    await blob.stageBlock(blockId, Buffer.from('other'), 5);
    return expectHttpStatus(409, () => blob.commitBlockList([blockId], { conditions: { ifNoneMatch: '*' } }));
  });
}

const isLoopback = (address) => /^(127\.|\[::1\]|\[::ffff:127\.)/.test(address);
const isWildcardPeer = (address) => ['*', '0.0.0.0:*', '[::]:*', '*:*'].includes(address);

/** Sockets of the server processes not confined to the loopback (must be none). */
function offLoopbackSockets(pids) {
  const result = spawnSync('ss', ['-tunapH'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  const pidPattern = new RegExp(`pid=(${pids.join('|')}),`);
  return result.stdout
    .split('\n')
    .filter((line) => pidPattern.test(line))
    .filter((line) => {
      const [, , , , local = '', peer = ''] = line.trim().split(/\s+/);
      return !(isLoopback(local) && (isWildcardPeer(peer) || isLoopback(peer)));
    });
}

async function timed(label, start) {
  const startedAt = performance.now();
  const server = await start();
  results.push({ name: `start ${label}`, ok: true, ms: performance.now() - startedAt, detail: describe(server) });
  return server;
}

function describe(server) {
  return server.endpoint ?? server.blobEndpoint;
}

async function main() {
  const startedAt = performance.now();
  const servers = await Promise.all([
    timed('minio', startS3Server),
    timed('fake-gcs-server', startGcsServer),
    timed('azurite', startAzurite),
  ]);
  const [s3, gcs, azure] = servers;
  try {
    await checkS3(s3);
    await checkGcs(gcs);
    await checkAzure(azure);
    await check('no server socket leaves the loopback', async () => {
      const sockets = offLoopbackSockets(servers.map((server) => server.pid));
      if (sockets === undefined) return 'ss not available; not checked';
      assert(sockets.length === 0, `off-loopback sockets:\n${sockets.join('\n')}`);
      return 'none';
    });
    await check('python venv imports safetensors, numpy, ml_dtypes', async () => {
      const run = spawnSync(pythonPath(), ['-c', 'import safetensors, numpy, ml_dtypes; print(safetensors.__version__, numpy.__version__, ml_dtypes.__version__)'], { encoding: 'utf8' });
      assert(run.status === 0, run.stderr);
      return run.stdout.trim();
    });
  } finally {
    const stopStartedAt = performance.now();
    await Promise.all(servers.map((server) => server.stop()));
    results.push({ name: 'stop all three', ok: true, ms: performance.now() - stopStartedAt, detail: '' });
  }
  const stillAlive = servers.filter((server) => {
    try {
      process.kill(server.pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  results.push({
    name: 'no server process left after stop()',
    ok: stillAlive.length === 0,
    ms: 0,
    detail: stillAlive.length === 0 ? '' : `still running: ${stillAlive.map((server) => server.pid).join(', ')}`,
  });

  for (const result of results) {
    const status = result.ok ? 'ok  ' : 'FAIL';
    console.log(`${status} ${result.name.padEnd(70)} ${String(Math.round(result.ms)).padStart(6)} ms  ${result.detail ?? ''}`);
  }
  const failed = results.filter((result) => !result.ok).length;
  console.log(`total ${Math.round(performance.now() - startedAt)} ms`);
  console.log(`selftest: ${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exitCode = 1;
});
