import { describe, expect, it } from 'vitest';

import { AbortError, NotFoundError, RetryPolicy, StorageError, retryableNetworkCodes, type RetryEvent } from '../src/index.js';

/** A policy with no jitter (random() = 0), so every backoff without a hint is 0 ms. */
function policy(options: ConstructorParameters<typeof RetryPolicy>[0] = {}): { retry: RetryPolicy; events: RetryEvent[] } {
  const events: RetryEvent[] = [];
  const retry = new RetryPolicy({ attempts: 3, baseDelayMs: 1, maxDelayMs: 10, random: () => 0, ...options });
  retry.onRetry = (event) => events.push(event);
  return { retry, events };
}

const busy = (retryAfterMs?: number) => Object.assign(new StorageError({ retryable: true }, 'busy'), retryAfterMs === undefined ? {} : { retryAfterMs });

describe('RetryPolicy', () => {
  it('waits at least the Retry-After hint, capped at four times maxDelayMs', async () => {
    const { retry, events } = policy();
    let tries = 0;
    const started = Date.now();
    const result = await retry.run(async () => {
      tries++;
      if (tries === 1) throw busy(30);
      if (tries === 2) throw busy(60_000);
      return 'done';
    });
    expect(result).toBe('done');
    expect(events.map((e) => e.delayMs)).toEqual([30, 40]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(65);
  });

  it('retries only retryable errors, and gives up after `attempts` tries with the last error', async () => {
    const { retry, events } = policy();
    let tries = 0;
    const missing = new NotFoundError({ path: 'x' });
    await expect(retry.run(async () => (tries++, Promise.reject(missing)))).rejects.toBe(missing);
    expect(tries).toBe(1);

    tries = 0;
    const last = busy();
    await expect(retry.run(async () => (tries++, Promise.reject(tries === 3 ? last : busy())))).rejects.toBe(last);
    expect(tries).toBe(3);
    expect(events.map((e) => e.attempt)).toEqual([1, 2]);
  });

  it("a caller's abort is an AbortError, even when the failure it caused came back as another error", async () => {
    const { retry } = policy();
    const controller = new AbortController();
    const error = await retry
      .run(async () => {
        // undici rejects a body with the signal's reason: here a plain Error, mapped as a cut-short body.
        controller.abort(new Error('stop'));
        throw new StorageError({ path: 'b/k', protocol: 's3', retryable: true }, 'body cut short: stop');
      }, controller.signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ path: 'b/k', protocol: 's3' });
    await expect(retry.pause(busy(), 1, controller.signal)).rejects.toBeInstanceOf(AbortError);
  });

  it('stops at the deadline rather than sleep past it', async () => {
    const { retry } = policy({ attempts: 10, maxDelayMs: 1_000, deadlineMs: 50 });
    let tries = 0;
    const error = busy(200);
    await expect(retry.run(async () => (tries++, Promise.reject(error)))).rejects.toBe(error);
    expect(tries).toBe(1);
  });
});

describe('retryableNetworkCodes', () => {
  it('holds the connection failures every backend retries, and not ENOTFOUND (often a wrong name)', () => {
    expect([...retryableNetworkCodes].sort()).toEqual(
      [
        'EAI_AGAIN',
        'ECONNABORTED',
        'ECONNREFUSED',
        'ECONNRESET',
        'EHOSTUNREACH',
        'ENETDOWN',
        'ENETUNREACH',
        'EPIPE',
        'ETIMEDOUT',
        'UND_ERR_BODY_TIMEOUT',
        'UND_ERR_CLOSED',
        'UND_ERR_CONNECT_TIMEOUT',
        'UND_ERR_HEADERS_TIMEOUT',
        'UND_ERR_SOCKET',
      ].sort(),
    );
    expect(retryableNetworkCodes.has('ENOTFOUND')).toBe(false);
  });
});
