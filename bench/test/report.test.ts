import { describe, expect, it } from 'vitest';

import { fastestAgainst, type ContenderResult } from '../src/lib/report.js';
import { summarizePhase } from '../src/lib/stats.js';
import type { Target } from '../src/scenarios.js';

/** A contender whose `write` phase took `ms` in every run. */
function contender(id: string, ms: number): ContenderResult {
  const run = { name: 'write', ms, peakRss: 0, rssStart: 0, rssGrowth: 0 };
  return { id, label: `${id} label`, runtime: 'node', optional: false, phases: [summarizePhase('write', [run, run])], errors: [] };
}

const twiceS3fs: Target = { text: 'write: Strata ≥ 2× the speed of s3fs', phase: 'write', contender: 'strata', kind: 'speedup', limit: 2, baseline: 's3fs' };

describe('the fastest contender on a speed target', () => {
  it('is the one with the best speed-up over the target’s baseline, the baseline itself left out', () => {
    const contenders = [contender('s3fs', 8000), contender('strata', 6000), contender('opendal', 5000), contender('sdk', 8500)];
    expect(fastestAgainst(twiceS3fs, contenders)).toEqual({ label: 'opendal label', value: 1.6 });
    // Against a baseline faster than everyone, the closest is still named, below 1.
    expect(fastestAgainst({ ...twiceS3fs, baseline: 'opendal' }, contenders)).toEqual({ label: 'strata label', value: 5000 / 6000 });
  });

  it('is undefined for targets that are not speed-ups, or when the baseline has no such phase', () => {
    const contenders = [contender('s3fs', 8000), contender('strata', 6000)];
    expect(fastestAgainst({ ...twiceS3fs, kind: 'rssGrowth' }, contenders)).toBeUndefined();
    expect(fastestAgainst({ ...twiceS3fs, phase: 'read' }, contenders)).toBeUndefined();
    expect(fastestAgainst({ ...twiceS3fs, baseline: 'missing' }, contenders)).toBeUndefined();
  });
});
