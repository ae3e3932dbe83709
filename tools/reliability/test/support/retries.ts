import type { AdaptedFileSystem, FileSystem, RetryEvent } from '@strata/fs-core';

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
