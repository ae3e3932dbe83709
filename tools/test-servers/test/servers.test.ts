import { spawnSync } from 'node:child_process';
import net from 'node:net';

import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';

import type {} from '../vitest-setup.js';
import { TestServerError, pythonPath, startGcsServer, startServer } from '../index.js';

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portAcceptsConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('servers provided by the vitest globalSetup', () => {
  it('s3: MinIO on loopback refuses a second If-None-Match:* put with 412', async () => {
    const s3 = inject('s3');
    expect(s3.kind).toBe('minio');
    expect(new URL(s3.endpoint).hostname).toBe('127.0.0.1');
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'provided' }));
      await client.send(new PutObjectCommand({ Bucket: 'provided', Key: 'k', Body: 'one', IfNoneMatch: '*' }));
      const second = client.send(new PutObjectCommand({ Bucket: 'provided', Key: 'k', Body: 'two', IfNoneMatch: '*' }));
      await expect(second).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    } finally {
      client.destroy();
    }
  });

  it('gcs: fake-gcs-server answers the JSON API', async () => {
    const gcs = inject('gcs');
    const response = await fetch(`${gcs.endpoint}/storage/v1/b?project=${gcs.projectId}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ kind: 'storage#buckets' });
  });

  it('azure: Azurite accepts the well-known account', async () => {
    const azure = inject('azure');
    const service = BlobServiceClient.fromConnectionString(azure.connectionString);
    const created = await service.getContainerClient('provided').create();
    expect(created._response.status).toBe(201);
  });
});

describe('start/stop', () => {
  it('gives concurrent servers distinct ports and stop() ends the process and frees the port', async () => {
    const [first, second] = await Promise.all([startGcsServer(), startGcsServer()]);
    expect(first.endpoint).not.toBe(second.endpoint);
    await first.stop();
    await first.stop(); // idempotent
    expect(processIsAlive(first.pid)).toBe(false);
    expect(await portAcceptsConnections(first.endpoint)).toBe(false);
    expect(await portAcceptsConnections(second.endpoint)).toBe(true);
    await second.stop();
    expect(processIsAlive(second.pid)).toBe(false);
  });

  it('rejects an unknown server name', () => {
    expect(() => startServer('ftp' as never)).toThrow(TestServerError);
  });

  it('pythonPath() is the venv python with the interop packages', () => {
    const run = spawnSync(pythonPath(), ['-c', 'import safetensors, numpy, ml_dtypes'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
