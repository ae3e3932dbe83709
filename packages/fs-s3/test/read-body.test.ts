import type { S3Client } from '@aws-sdk/client-s3';
import { FsError } from '@strata/fs-core';
import { scriptedBody as body } from '@strata/fs-core/testing';
import { describe, expect, it } from 'vitest';
import { S3Adapter } from '../src/adapter.js';

describe('S3Adapter.read', () => {
  /** An adapter whose every GetObject answers with this body and Content-Length. */
  function adapterAnswering(chunks: Uint8Array[], contentLength: number, error?: Error): S3Adapter {
    const client = { send: async () => ({ Body: body(chunks, error), ContentLength: contentLength }), destroy: () => undefined };
    return new S3Adapter({ client: client as unknown as S3Client });
  }

  it('returns the body as one buffer of Content-Length bytes', async () => {
    const data = await adapterAnswering([Buffer.from('abc'), Buffer.from('def')], 6).read('b/k', 0, 6, {});
    expect(Buffer.from(data).toString()).toBe('abcdef');
    expect(data.buffer.byteLength).toBe(6);
  });

  it('a range past the end of the object is as long as the server says', async () => {
    expect((await adapterAnswering([Buffer.from('ab')], 2).read('b/k', 8, 100, {})).length).toBe(2);
  });

  it('a cut-short body is a retryable FsError, for a clean end and for a reset alike', async () => {
    for (const adapter of [adapterAnswering([Buffer.alloc(3)], 6), adapterAnswering([Buffer.alloc(3)], 6, Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))]) {
      const error = await adapter.read('b/k', 0, 6, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FsError);
      expect((error as FsError).retryable).toBe(true);
    }
  });
});
