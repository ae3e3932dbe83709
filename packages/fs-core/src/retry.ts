import { AbortError, FsError, StorageError, TimeoutError } from './errors.js';

export interface RetryOptions {
  /** Tries in all, the first included (default 4). 1 disables retries. */
  attempts?: number | undefined;
  /** First backoff delay (default 100 ms); doubles each try, with full jitter. */
  baseDelayMs?: number | undefined;
  /** Cap for one backoff delay (default 5 s). */
  maxDelayMs?: number | undefined;
  /**
   * Limit for one whole try, transfer included (default none). A try that runs over is aborted and
   * retried. A server that stops answering is caught without it: every backend has an inactivity
   * limit of its own (`readTimeoutMs`, default 60 s, and `connectTimeoutMs`), which does not cut a
   * slow transfer that keeps moving.
   */
  timeoutMs?: number | undefined;
  /** Limit for the whole operation, retries included (default none). */
  deadlineMs?: number | undefined;
  /** Source of randomness for jitter; tests pass a seeded one. */
  random?: (() => number) | undefined;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  error: unknown;
}

/** Backends may attach this to an FsError from a 429/503 answer. */
export interface RetryAfterHint {
  retryAfterMs?: number;
}

/**
 * Node and undici error codes of a connection that failed or dropped (reset, refused, broken pipe,
 * timed out, host or network unreachable, DNS lookup failing for now): the request may never have
 * reached the server, or its answer was lost, so another try can succeed. Every backend marks an
 * error carrying one of these `retryable`. ENOTFOUND is not here: a name that does not resolve is
 * often a wrong bucket, account or endpoint, and each backend decides about it.
 */
export const retryableNetworkCodes: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Codes of a connection that timed out: the system's ETIMEDOUT and undici's connect, headers and
 * body timeouts (the backends' connectTimeoutMs and readTimeoutMs).
 */
const timeoutCodes: ReadonlySet<string> = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A retryable StorageError a backend made of a timed-out connection, as the TimeoutError it is; any
 * other error as it is. Backends map network failures by their code, and several keep the code only
 * in `cause`, so the timeout is recognised here, once, for all of them.
 */
function asTimeout(error: unknown): unknown {
  if (!(error instanceof StorageError) || !error.retryable) return error;
  for (let e: unknown = error.cause, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && timeoutCodes.has(code)) {
      const where = error.protocol && error.path !== undefined ? `: ${error.protocol}://${error.path}` : '';
      return new TimeoutError({ path: error.path, protocol: error.protocol, cause: error }, `Timed out waiting for the server (${code})${where}`);
    }
  }
  return error;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError({ cause: signal.reason }));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError({ cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Retries operations that are safe to repeat (reads, listings, whole-body PUTs, parts).
 * Only errors marked `retryable` are retried, with exponential backoff and full jitter,
 * honouring a backend's Retry-After hint.
 */
export class RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly timeoutMs: number | undefined;
  readonly deadlineMs: number | undefined;
  private readonly random: () => number;
  onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: RetryOptions = {}) {
    this.attempts = Math.max(1, Math.floor(options.attempts ?? 4));
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.timeoutMs = options.timeoutMs;
    this.deadlineMs = options.deadlineMs;
    this.random = options.random ?? Math.random;
  }

  /** Runs `fn`, giving each try a signal that fires on the caller's abort, the try timeout or the deadline. */
  async run<T>(fn: (signal: AbortSignal | undefined, attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const deadline = this.deadlineMs === undefined ? undefined : Date.now() + this.deadlineMs;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new AbortError({ cause: signal.reason });
      const remaining = deadline === undefined ? undefined : deadline - Date.now();
      const tryLimit = minDefined(this.timeoutMs, remaining);
      const timeout = tryLimit === undefined ? undefined : AbortSignal.timeout(Math.max(1, tryLimit));
      const trySignal = timeout && signal ? AbortSignal.any([signal, timeout]) : (timeout ?? signal);
      try {
        return await fn(trySignal, attempt);
      } catch (raw) {
        const timedOut = trySignal?.aborted === true && !signal?.aborted;
        const where = raw instanceof FsError ? { path: raw.path, protocol: raw.protocol } : {};
        const error = timedOut ? new TimeoutError({ ...where, cause: raw }) : asTimeout(raw);
        if (signal?.aborted) throw aborted(error);
        await this.pause(error, attempt, signal, deadline);
      }
    }
  }

  /**
   * After failed try number `attempt`: rethrows `error` when it is not retryable or the tries are
   * used up, otherwise waits out the backoff. Streams that resume mid-way use this directly. A
   * retryable error a backend made of a timed-out connection is thrown as a TimeoutError.
   */
  async pause(failure: unknown, attempt: number, signal?: AbortSignal, deadline?: number): Promise<void> {
    const error = asTimeout(failure);
    if (signal?.aborted) throw aborted(error);
    const retryable = error instanceof FsError && error.retryable;
    if (!retryable || attempt >= this.attempts) throw error;
    const hinted = (error as RetryAfterHint).retryAfterMs;
    const backoff = this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = hinted !== undefined ? Math.min(Math.max(hinted, backoff), this.maxDelayMs * 4) : backoff;
    if (deadline !== undefined && Date.now() + delayMs >= deadline) throw error;
    this.onRetry?.({ attempt, delayMs, error });
    await sleep(delayMs, signal);
  }
}

/**
 * What a caller who aborted gets: an AbortError, even when the backend saw the abort as some other
 * failure (undici rejects with the signal's reason, e.g. a plain Error the caller passed to abort()).
 */
function aborted(error: unknown): FsError {
  if (error instanceof AbortError) return error;
  const where = error instanceof FsError ? { path: error.path, protocol: error.protocol } : {};
  return new AbortError({ ...where, cause: error });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

export const noRetry = new RetryPolicy({ attempts: 1 });
