import type { PhaseResult } from './measure.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** One contender's figures for one phase over the counted runs. */
export interface PhaseSummary {
  phase: string;
  runs: number;
  ms: Spread;
  /** MiB/s when the phase moved bytes. */
  mibPerSecond?: Spread | undefined;
  /** Operations per second when the phase counted items. */
  itemsPerSecond?: Spread | undefined;
  peakRss: Spread;
  rssGrowth: Spread;
  /** Median of each numeric extra figure. */
  extra: Record<string, number>;
  /** Median time ÷ the baseline's median time for the same phase (lower is faster). */
  timeRatio?: number | undefined;
}

const MiB = 1024 * 1024;

export function summarizePhase(phase: string, samples: readonly PhaseResult[]): PhaseSummary {
  const bytes = samples[0]?.bytes;
  const items = samples[0]?.items;
  const extra: Record<string, number> = {};
  const extraKeys = new Set(samples.flatMap((s) => Object.keys(s.extra ?? {})));
  for (const key of extraKeys) {
    const values = samples.map((s) => s.extra?.[key]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) extra[key] = spread(values).median;
  }
  return {
    phase,
    runs: samples.length,
    ms: spread(samples.map((s) => s.ms)),
    mibPerSecond: bytes ? spread(samples.map((s) => (s.bytes ?? 0) / MiB / (s.ms / 1000))) : undefined,
    itemsPerSecond: items ? spread(samples.map((s) => (s.items ?? 0) / (s.ms / 1000))) : undefined,
    peakRss: spread(samples.map((s) => s.peakRss)),
    rssGrowth: spread(samples.map((s) => s.rssGrowth)),
    extra,
  };
}

/** Adds a `total` phase (sum of the phases of each run) for multi-phase tasks. */
export function withTotal(runs: readonly PhaseResult[][]): PhaseResult[][] {
  return runs.map((phases) => {
    if (phases.length < 2) return phases;
    const bytes = phases.reduce((s, p) => s + (p.bytes ?? 0), 0);
    const items = phases.reduce((s, p) => s + (p.items ?? 0), 0);
    return [
      ...phases,
      {
        name: 'total',
        ms: phases.reduce((s, p) => s + p.ms, 0),
        bytes: bytes || undefined,
        items: items || undefined,
        peakRss: Math.max(...phases.map((p) => p.peakRss)),
        rssStart: phases[0]!.rssStart,
        rssGrowth: Math.max(...phases.map((p) => p.rssGrowth)),
      },
    ];
  });
}
