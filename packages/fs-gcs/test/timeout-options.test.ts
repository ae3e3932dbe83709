import { Storage } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';

import { createFileSystem } from '../src/index.js';
import { createStorage, timeoutsOf } from '../src/options.js';

const authTimeout = (storage: Storage) =>
  (storage.authClient as unknown as { clientOptions?: { transporterOptions?: { timeout?: number } } }).clientOptions?.transporterOptions?.timeout;

describe('GCS readTimeoutMs / connectTimeoutMs', () => {
  it('default to 60 s of inactivity and 10 s to connect, token requests included', () => {
    const storage = createStorage({ apiEndpoint: 'http://127.0.0.1:9', projectId: 'p' });
    expect(timeoutsOf(storage)).toEqual({ readTimeoutMs: 60_000, connectTimeoutMs: 10_000 });
    expect(authTimeout(storage)).toBe(60_000);
  });

  it('are overridable, also for an injected client, and 0 turns a limit off', () => {
    const storage = createStorage({ apiEndpoint: 'http://127.0.0.1:9', projectId: 'p', readTimeoutMs: 0, connectTimeoutMs: 2_000 });
    expect(timeoutsOf(storage)).toEqual({ readTimeoutMs: 0, connectTimeoutMs: 2_000 });
    expect(authTimeout(storage)).toBeUndefined();
    const injected = new Storage({ apiEndpoint: 'http://127.0.0.1:9', projectId: 'p' });
    expect(createStorage({ storage: injected, readTimeoutMs: 5_000 })).toBe(injected);
    expect(timeoutsOf(injected)).toEqual({ readTimeoutMs: 5_000, connectTimeoutMs: 10_000 });
  });

  it('refuse nonsense values', () => {
    expect(() => createFileSystem({ apiEndpoint: 'http://127.0.0.1:9', readTimeoutMs: -5 })).toThrow(RangeError);
  });
});
