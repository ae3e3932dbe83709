import { describe, expect, it } from 'vitest';
import * as core from '@strata/fs-core';

// fs-core caches cloud filesystems like fsspec; tested here because it needs a real lazy backend.
describe('fs-core instance cache with the s3 backend', () => {
  it('shares instances per protocol and options, and close() evicts', async () => {
    const creds = { accessKeyId: 'a', secretAccessKey: 'b' };
    const a = await core.filesystem('s3', { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: creds });
    const b = await core.filesystem('s3', { region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { secretAccessKey: 'b', accessKeyId: 'a' } });
    expect(b).toBe(a);
    expect((await core.urlToFs('s3://bucket/k', { s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: creds } })).fs).toBe(a);
    const other = await core.filesystem('s3', { endpoint: 'http://127.0.0.1:2', region: 'us-east-1', credentials: creds });
    expect(other).not.toBe(a);
    const own = await core.filesystem('s3', { skipInstanceCache: true, endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: creds });
    expect(own).not.toBe(a);
    await a.close();
    const c = await core.filesystem('s3', { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: creds });
    expect(c).not.toBe(a);
    await Promise.all([c.close(), other.close(), own.close()]);
  });
});
