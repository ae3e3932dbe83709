import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'results', 'latest.jsonl');

/**
 * Records the figures of one test (faults injected, operations, bytes verified, leaks) as a JSON
 * line in tools/reliability/results/latest.jsonl and on stdout; docs/RELIABILITY.md quotes them.
 */
export function report(test: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ test, at: new Date().toISOString(), ...figures });
  mkdirSync(dirname(RESULTS), { recursive: true });
  appendFileSync(RESULTS, `${line}\n`);
  console.log(`[reliability] ${line}`);
}
