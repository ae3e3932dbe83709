import { AbortError, type AdaptedFileSystem, type FileSystem, type RetryEvent } from '@strata/fs-core';

/**
 * Counts the retries a filesystem's policy makes and prints the long runs: an operation that
 * needed many tries under 10% faults points at a fault the backend does not recover from.
 */
export function watchRetries(fs: FileSystem, longRun = 5): { retries: number; longest: number } {
  const counts = { retries: 0, longest: 0 };
  const policy = (fs as AdaptedFileSystem).retry;
  policy.onRetry = (event: RetryEvent) => {
    counts.retries += 1;
    counts.longest = Math.max(counts.longest, event.attempt);
    if (event.attempt >= longRun) {
      const error = event.error as { name?: string; message?: string; cause?: { name?: string; code?: string; message?: string } };
      console.warn(`[retry] attempt ${event.attempt}: ${error.name}: ${error.message} (cause ${error.cause?.name}/${error.cause?.code}: ${error.cause?.message})`);
    }
  };
  return counts;
}

/**
 * Wraps a filesystem so that an AbortError from a call the caller never aborted is printed with
 * its cause chain: under injected faults that means an abort escaped the retry policy.
 */
export function reportStrayAborts(fs: FileSystem): FileSystem {
  return new Proxy(fs, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          const signal = args.map((a) => (a as { signal?: AbortSignal } | undefined)?.signal).find(Boolean);
          if (error instanceof AbortError && !signal?.aborted) {
            const chain: string[] = [];
            for (let e: unknown = error, i = 0; e && i < 6; e = (e as { cause?: unknown }).cause, i++) {
              chain.push(`${(e as Error).name}: ${(e as Error).message}`);
            }
            console.warn(`[stray abort] ${String(key)}(${String(args[0])}): ${chain.join(' <- ')}\n${(error as Error).stack}`);
          }
          throw error;
        });
      };
    },
  });
}
