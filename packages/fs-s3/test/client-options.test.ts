import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3Adapter } from '../src/adapter.js';
import { createS3Client } from '../src/options.js';

describe('per-request SDK overhead', () => {
  it('the client built here caches its middleware stack unless clientConfig says otherwise', () => {
    const built = createS3Client({ region: 'us-east-1' }, {});
    expect(built.config.cacheMiddleware).toBe(true);
    built.destroy();
    const asked = createS3Client({ region: 'us-east-1', clientConfig: { cacheMiddleware: false } }, {});
    expect(asked.config.cacheMiddleware).toBe(false);
    asked.destroy();
  });

  it('requests without a signal pass no per-call options (which would bypass that cache); with one they pass it', async () => {
    const calls: unknown[] = [];
    const client = {
      send: async (_command: unknown, options?: unknown) => {
        calls.push(options);
        return { ContentLength: 3, ETag: '"e"' };
      },
      destroy: () => undefined,
    };
    const adapter = new S3Adapter({ client: client as unknown as S3Client });
    await adapter.head('b/k', {});
    const signal = new AbortController().signal;
    await adapter.head('b/k', { signal });
    expect(calls).toEqual([undefined, { abortSignal: signal }]);
  });
});
