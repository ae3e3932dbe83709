import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';

import { createFileSystem } from '../src/index.js';
import { createS3Client, timeoutsOf } from '../src/options.js';

const base = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };

/** The NodeHttpHandler settings the client resolves (its config is a promise until the first request). */
async function handlerSettings(client: S3Client): Promise<{ socketTimeout?: number; connectionTimeout?: number; requestTimeout?: number }> {
  const handler = client.config.requestHandler as unknown as { configProvider: Promise<Record<string, number | undefined>> };
  return handler.configProvider;
}

describe('S3 readTimeoutMs / connectTimeoutMs', () => {
  it('default to 60 s of inactivity and 10 s to connect, with no limit on a whole request', async () => {
    const client = createS3Client(base);
    try {
      const settings = await handlerSettings(client);
      expect(settings.socketTimeout).toBe(60_000);
      expect(settings.connectionTimeout).toBe(10_000);
      expect(settings.requestTimeout).toBeUndefined();
      expect(timeoutsOf(client)).toEqual({ readTimeoutMs: 60_000, connectTimeoutMs: 10_000 });
    } finally {
      client.destroy();
    }
  });

  it('are overridable, and 0 turns a limit off', async () => {
    const client = createS3Client({ ...base, readTimeoutMs: 1_234, connectTimeoutMs: 0 });
    try {
      const settings = await handlerSettings(client);
      expect(settings.socketTimeout).toBe(1_234);
      expect(settings.connectionTimeout).toBeUndefined();
      expect(timeoutsOf(client)).toEqual({ readTimeoutMs: 1_234, connectTimeoutMs: 0 });
    } finally {
      client.destroy();
    }
  });

  it('leave a request handler given in clientConfig as it is', async () => {
    const client = createS3Client({ ...base, clientConfig: { requestHandler: { requestTimeout: 5_000 } } });
    try {
      const settings = await handlerSettings(client);
      expect(settings.requestTimeout).toBe(5_000);
      expect(settings.socketTimeout).toBeUndefined();
    } finally {
      client.destroy();
    }
  });

  it('refuse nonsense values', () => {
    expect(() => createFileSystem({ ...base, readTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => createFileSystem({ ...base, connectTimeoutMs: Number.NaN })).toThrow(RangeError);
  });
});
