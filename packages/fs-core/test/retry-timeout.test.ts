import { describe, expect, it } from 'vitest';

import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS, NotFoundError, pacedBody, resolveRequestTimeouts, RetryPolicy, StorageError, TimeoutError, type RetryEvent } from '../src/index.js';

/** A policy with no jitter, so the tests do not wait. */
function policy(attempts = 3): { retry: RetryPolicy; events: RetryEvent[] } {
  const events: RetryEvent[] = [];
  const retry = new RetryPolicy({ attempts, baseDelayMs: 1, maxDelayMs: 10, random: () => 0 });
  retry.onRetry = (event) => events.push(event);
  return { retry, events };
}

/** What a backend's error mapping makes of a connection that timed out: a retryable StorageError, the code in its cause. */
function mappedNetworkError(code: string, depth = 1): StorageError {
  let cause: unknown = Object.assign(new Error(`low-level ${code}`), { code });
  for (let i = 1; i < depth; i++) cause = new Error('wrapper', { cause });
  return new StorageError({ path: 'bucket/key', protocol: 's3', retryable: true, cause }, `Network error for s3://bucket/key (${code})`);
}

describe('RetryPolicy and timed-out connections (backends: readTimeoutMs, connectTimeoutMs)', () => {
  it.each(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])(
    'a retryable StorageError caused by %s is retried, then reported as a TimeoutError naming the path',
    async (code) => {
      const { retry, events } = policy(3);
      let tries = 0;
      const error = await retry.run(async () => (tries++, Promise.reject(mappedNetworkError(code, 2)))).catch((e: unknown) => e);
      expect(tries).toBe(3);
      expect(events).toHaveLength(2);
      expect(error).toBeInstanceOf(TimeoutError);
      const timeout = error as TimeoutError;
      expect(timeout.code).toBe('ETIMEDOUT');
      expect(timeout.retryable).toBe(true);
      expect(timeout.path).toBe('bucket/key');
      expect(timeout.protocol).toBe('s3');
      expect(timeout.message).toContain('s3://bucket/key');
      expect(timeout.message).toContain(code);
      // The backend's error stays reachable, with its sanitised cause.
      expect(timeout.cause).toBeInstanceOf(StorageError);
    },
  );

  it('succeeds when a later try gets through', async () => {
    const { retry } = policy(3);
    let tries = 0;
    const result = await retry.run(async () => {
      tries++;
      if (tries < 3) throw mappedNetworkError('UND_ERR_HEADERS_TIMEOUT');
      return 'done';
    });
    expect(result).toBe('done');
  });

  it('leaves other errors alone: resets, non-retryable errors, other classes', async () => {
    const reset = mappedNetworkError('ECONNRESET');
    await expect(policy(1).retry.run(() => Promise.reject(reset))).rejects.toBe(reset);
    const fatal = new StorageError({ retryable: false, cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }, 'not retryable');
    await expect(policy(3).retry.run(() => Promise.reject(fatal))).rejects.toBe(fatal);
    const missing = new NotFoundError({ path: 'a', cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) });
    await expect(policy(3).retry.run(() => Promise.reject(missing))).rejects.toBe(missing);
  });

  it('pause() (streams resuming mid-way) throws the TimeoutError once the tries are used up', async () => {
    const { retry } = policy(2);
    await expect(retry.pause(mappedNetworkError('UND_ERR_BODY_TIMEOUT'), 1)).resolves.toBeUndefined();
    await expect(retry.pause(mappedNetworkError('UND_ERR_BODY_TIMEOUT'), 2)).rejects.toBeInstanceOf(TimeoutError);
  });

  it('a try cut by retry.timeoutMs is a TimeoutError that keeps the path of the error it replaced', async () => {
    const retry = new RetryPolicy({ attempts: 1, timeoutMs: 20 });
    const error = await retry
      .run(
        (signal) =>
          new Promise((_, reject) =>
            signal?.addEventListener('abort', () => reject(new StorageError({ path: 'b/k', protocol: 'gs', retryable: true }, 'aborted'))),
          ),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).path).toBe('b/k');
    expect((error as TimeoutError).protocol).toBe('gs');
  });
});

describe('resolveRequestTimeouts and pacedBody (the backends share them)', () => {
  it('default to 60 s of inactivity and 10 s to connect; 0 is none; nonsense is a RangeError', () => {
    expect(resolveRequestTimeouts({})).toEqual({ readTimeoutMs: DEFAULT_READ_TIMEOUT_MS, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS });
    expect([DEFAULT_READ_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS]).toEqual([60_000, 10_000]);
    expect(resolveRequestTimeouts({ readTimeoutMs: 0, connectTimeoutMs: 5 })).toEqual({ readTimeoutMs: 0, connectTimeoutMs: 5 });
    expect(() => resolveRequestTimeouts({ readTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => resolveRequestTimeouts({ connectTimeoutMs: Number.NaN })).toThrow(RangeError);
  });

  it('sends a large body as slices of the same bytes, and a small one whole', async () => {
    const small = new Uint8Array(1000);
    expect(pacedBody(small)).toBe(small);
    const large = Uint8Array.from({ length: 600_000 }, (_, i) => i % 251);
    const paced = pacedBody(large);
    expect(paced).not.toBeInstanceOf(Uint8Array);
    const slices: Uint8Array[] = [];
    for await (const slice of paced as AsyncIterable<Uint8Array>) slices.push(slice);
    expect(slices.map((s) => s.byteLength)).toEqual([262_144, 262_144, 75_712]);
    expect(Buffer.concat(slices).equals(Buffer.from(large))).toBe(true);
  });
});
