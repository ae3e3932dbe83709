import type { RetryOptions } from '@strata/fs-core';

import { ALL_FAULTS, type FaultName } from '../../src/fault-proxy.js';
import { seededRandom } from './backends.js';

/** Every fault the proxy knows but `stall`, which costs a whole per-try timeout and so gets a (lower) rate of its own. */
export const FAST_FAULTS: readonly FaultName[] = ALL_FAULTS.filter((f) => f !== 'stall');

/** How long a stalled request is held before the proxy resets it (clients time out long before). */
export const STALL_MS = 15_000;

/**
 * Enough tries that ten independent 10% faults in a row are needed to fail an operation (1e-10),
 * small delays so the suite stays quick, and a per-try timeout that ends stalls.
 */
export function faultRetry(seed: number, timeoutMs = 5_000): RetryOptions {
  return { attempts: 10, baseDelayMs: 5, maxDelayMs: 100, timeoutMs, random: seededRandom(seed) };
}
