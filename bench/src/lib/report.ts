import type { Contender, Scenario, Target } from '../scenarios.js';
import type { MachineDescription } from './machine.js';
import type { PhaseSummary, Spread } from './stats.js';

export interface ContenderResult {
  id: string;
  label: string;
  runtime: 'node' | 'python';
  optional: boolean;
  phases: PhaseSummary[];
  /** Errors of failed runs (warm-up or counted). */
  errors: string[];
}

export interface TargetResult {
  text: string;
  contender: string;
  phase: string;
  value?: number | undefined;
  limit: number;
  kind: Target['kind'];
  /** undefined: could not be evaluated (a contender is missing). */
  met?: boolean | undefined;
  why?: string | undefined;
}

export interface ScenarioResult {
  id: string;
  title: string;
  what: string;
  baseline: string;
  status: 'ran' | 'skipped' | 'failed';
  reason?: string | undefined;
  runs: number;
  warmups: number;
  contenders: ContenderResult[];
  targets: TargetResult[];
  notes: string[];
  loadAverage?: { before: number; after: number } | undefined;
}

export interface BenchResults {
  mode: 'full' | 'quick';
  /** false while the run is still going (results are written after every scenario). */
  complete: boolean;
  machine: MachineDescription;
  pythonVersions: Record<string, string>;
  tuning: Record<string, number>;
  durationSeconds: number;
  scenarios: ScenarioResult[];
}

const MiB = 1024 * 1024;

function phaseOf(result: ContenderResult | undefined, phase: string): PhaseSummary | undefined {
  return result?.phases.find((p) => p.phase === phase);
}

/** Fills each phase's time ratio against the baseline's same phase. */
export function addRatios(scenario: ScenarioResult): void {
  const base = scenario.contenders.find((c) => c.id === scenario.baseline);
  for (const c of scenario.contenders) {
    for (const p of c.phases) {
      const b = phaseOf(base, p.phase);
      if (b && b.ms.median > 0) p.timeRatio = p.ms.median / b.ms.median;
    }
  }
}

export function evaluateTargets(targets: readonly Target[], contenders: readonly ContenderResult[]): TargetResult[] {
  return targets.map((t) => {
    const out: TargetResult = { text: t.text, contender: t.contender, phase: t.phase, limit: t.limit, kind: t.kind };
    const mine = phaseOf(contenders.find((c) => c.id === t.contender), t.phase);
    if (!mine) return { ...out, why: `${t.contender} has no ${t.phase} result` };
    switch (t.kind) {
      case 'speedup':
      case 'timeRatio': {
        const base = phaseOf(contenders.find((c) => c.id === t.baseline), t.phase);
        if (!base) return { ...out, why: `baseline ${t.baseline} has no ${t.phase} result` };
        const value = t.kind === 'speedup' ? base.ms.median / mine.ms.median : mine.ms.median / base.ms.median;
        return { ...out, value, met: t.kind === 'speedup' ? value >= t.limit : value <= t.limit };
      }
      case 'rssGrowth': {
        const value = mine.rssGrowth.median;
        return { ...out, value, met: value <= t.limit };
      }
      case 'extraRatio': {
        const num = mine.extra[t.numerator!];
        const den = mine.extra[t.denominator!];
        if (num === undefined || !den) return { ...out, why: `${t.contender} did not report ${t.numerator}/${t.denominator}` };
        const value = num / den;
        return { ...out, value, met: value <= t.limit };
      }
    }
  });
}

/**
 * For a speed target: the contender (other than its baseline) that came closest to it, with its
 * ratio. When even the fastest contender misses a "2× the Python library" target, no client
 * measured here reaches it on this server and machine.
 */
export function fastestAgainst(target: Target, contenders: readonly ContenderResult[]): { label: string; value: number } | undefined {
  if (target.kind !== 'speedup' || !target.baseline) return undefined;
  const base = phaseOf(contenders.find((c) => c.id === target.baseline), target.phase);
  if (!base) return undefined;
  let fastest: { label: string; value: number } | undefined;
  for (const c of contenders) {
    const mine = phaseOf(c, target.phase);
    if (c.id === target.baseline || !mine) continue;
    const value = base.ms.median / mine.ms.median;
    if (!fastest || value > fastest.value) fastest = { label: c.label, value };
  }
  return fastest;
}

/* ------------------------------ Markdown ------------------------------ */

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');

function ms(s: Spread): string {
  const d = s.median < 10 ? 2 : s.median < 100 ? 1 : 0;
  return `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`;
}

function rate(p: PhaseSummary): string {
  // Small objects and calls: operations per second say more than bytes per second.
  const smallItems = p.itemsPerSecond && p.mibPerSecond && p.mibPerSecond.median / p.itemsPerSecond.median < 1 / 16;
  if (p.itemsPerSecond && (smallItems || !p.mibPerSecond)) return `${fmt(p.itemsPerSecond.median)} ops/s (${fmt(p.itemsPerSecond.min)}–${fmt(p.itemsPerSecond.max)})`;
  if (p.mibPerSecond) return `${fmt(p.mibPerSecond.median, 1)} MiB/s (${fmt(p.mibPerSecond.min, 1)}–${fmt(p.mibPerSecond.max, 1)})`;
  if (p.itemsPerSecond) return `${fmt(p.itemsPerSecond.median)} ops/s (${fmt(p.itemsPerSecond.min)}–${fmt(p.itemsPerSecond.max)})`;
  return '';
}

const mib = (bytes: number) => `${fmt(bytes / MiB, bytes < 10 * MiB ? 1 : 0)} MiB`;

function targetValue(t: TargetResult): string {
  if (t.value === undefined) return '–';
  switch (t.kind) {
    case 'speedup':
      return `${fmt(t.value, 2)}× (≥ ${t.limit}×)`;
    case 'timeRatio':
      return `${fmt(t.value, 3)}× time (≤ ${t.limit}×)`;
    case 'rssGrowth':
      return `${mib(t.value)} (≤ ${mib(t.limit)})`;
    case 'extraRatio':
      return `${fmt(t.value, 3)}× (≤ ${t.limit}×)`;
  }
}

function verdict(t: TargetResult): string {
  if (t.met === undefined) return `not evaluated: ${t.why ?? ''}`;
  return t.met ? '✅ met' : '❌ missed';
}

function extraText(p: PhaseSummary): string {
  const parts: string[] = [];
  if (p.extra.serverBytes !== undefined) parts.push(`${mib(p.extra.serverBytes)} sent by server`);
  if (p.extra.neededBytes !== undefined) parts.push(`${mib(p.extra.neededBytes)} needed`);
  if (p.extra.requests !== undefined) parts.push(`${fmt(p.extra.requests)} requests`);
  if (p.extra.meanStepMs !== undefined) parts.push(`mean step ${fmt(p.extra.meanStepMs, 1)} ms`);
  if (p.extra.p95StepMs !== undefined) parts.push(`p95 step ${fmt(p.extra.p95StepMs, 1)} ms`);
  if (p.extra.checkpoints !== undefined) parts.push(`${fmt(p.extra.checkpoints)} checkpoints`);
  if (p.extra.fitMs !== undefined) parts.push(`fit incl. last save ${fmt(p.extra.fitMs)} ms`);
  if (p.extra.cpuMs !== undefined) parts.push(`CPU ${fmt(p.extra.cpuMs)} ms`);
  if (p.extra.serverCpuMs !== undefined) parts.push(`server CPU ${fmt(p.extra.serverCpuMs)} ms`);
  if (p.extra.coresBusy !== undefined) parts.push(`${fmt(p.extra.coresBusy, 2)} cores busy`);
  return parts.join(', ');
}

export function renderMarkdown(results: BenchResults, scenarios: readonly Scenario[]): string {
  const m = results.machine;
  const lines: string[] = [];
  lines.push(`# Strata benchmarks (${results.mode} run)`, '');
  lines.push(`Generated by \`npm run bench${results.mode === 'quick' ? ' -- --quick' : ''}\` on ${m.date.slice(0, 10)}; raw figures in \`${results.mode === 'quick' ? 'quick' : 'latest'}.json\`.`, '');
  if (!results.complete) lines.push('> **Incomplete**: the run was still going or was cut short; only the scenarios below were measured.', '');
  if (results.mode === 'quick') {
    lines.push('> **Quick run**: tiny sizes and fewer runs than the full run (see each scenario). It checks that the harness works; its figures say little about performance.', '');
  }
  lines.push('## Machine', '');
  lines.push(`- ${m.cores} × ${m.cpuModel}, ${fmt(m.memoryBytes / 1024 ** 3, 1)} GiB memory, ${m.os}`);
  lines.push(`- Node ${m.node}; Python ${results.pythonVersions.python ?? 'unavailable'}`);
  lines.push(`- Load average (1 min) at start ${fmt(m.loadAverageStart, 2)}, at end ${fmt(m.loadAverageEnd ?? NaN, 2)} — the machine is shared; see each scenario's load figures`);
  const pyv = Object.entries(results.pythonVersions).filter(([k]) => k !== 'python');
  lines.push(`- Node packages: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (pyv.length) lines.push(`- Python packages: ${pyv.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`- Transfer settings for every contender that has them: part size ${results.tuning.partSize! / MiB} MiB, ${results.tuning.uploadConcurrency} parts in flight per upload, ${results.tuning.concurrency} requests in flight for bulk and ranged operations`);
  lines.push(`- Commit ${m.gitCommit ?? 'unknown'}; total wall time ${fmt(results.durationSeconds / 60, 1)} min`, '');

  lines.push('## Targets', '');
  lines.push('| Scenario | Target | Result | Verdict | Fastest contender on the same ratio |', '|---|---|---|---|---|');
  for (const s of results.scenarios) {
    if (s.status !== 'ran') {
      lines.push(`| ${s.id} ${s.title} | — | ${s.status}: ${s.reason ?? ''} | not evaluated | |`);
      continue;
    }
    const defs = scenarios.find((d) => d.id === s.id)?.targets ?? [];
    for (const t of s.targets) {
      const def = defs.find((d) => d.text === t.text && d.contender === t.contender);
      const fastest = def && fastestAgainst(def, s.contenders);
      lines.push(`| ${s.id} ${s.title} | ${t.text} | ${targetValue(t)} | ${verdict(t)} | ${fastest ? `${fastest.label}: ${fmt(fastest.value, 2)}×` : ''} |`);
    }
  }
  lines.push('');

  lines.push('## How to read the tables', '');
  lines.push('Each contender runs in its own process, one run at a time, contenders alternating (rotated order each round). Time is the median over the counted runs with min–max in brackets; throughput likewise. Peak RSS is the process’s peak resident memory during the measured operation (kernel high-water mark reset just before it), including data the process already held (the checkpoint to save). RSS growth is that peak minus the RSS when the operation started, minus the bytes the operation returns (for loads). “× baseline” is median time ÷ the baseline’s median time: below 1 is faster. In the notes, CPU is the contender process’s CPU time (all threads), server CPU that of the test server during the same phase, and “cores busy” the two together over the wall time: near the machine’s core count the phase is CPU-bound, well below it both sides wait. “Fastest contender on the same ratio” is the contender that came closest to a speed target against the same baseline.', '');

  for (const s of results.scenarios) {
    const def = scenarios.find((d) => d.id === s.id);
    lines.push(`## ${s.id}. ${s.title}`, '');
    lines.push(s.what, '');
    if (s.status !== 'ran') {
      lines.push(`**${s.status === 'skipped' ? 'Skipped' : 'Failed'}:** ${s.reason ?? ''}`, '');
      continue;
    }
    lines.push(`${s.runs} counted run${s.runs === 1 ? '' : 's'} after ${s.warmups} warm-up${s.warmups === 1 ? '' : 's'} per contender; baseline: **${labelOf(def, s.baseline)}**. Load average ${fmt(s.loadAverage?.before ?? NaN, 1)} → ${fmt(s.loadAverage?.after ?? NaN, 1)}.`, '');
    lines.push('| Contender | Phase | Time ms, median (min–max) | Throughput | Peak RSS | RSS growth | × baseline time | Notes |', '|---|---|---|---|---|---|---|---|');
    for (const c of s.contenders) {
      if (c.phases.length === 0) {
        lines.push(`| ${c.label} | – | failed${c.optional ? ' (optional contender)' : ''}: ${escapeCell(c.errors[0] ?? 'no result')} | | | | | |`);
        continue;
      }
      for (const p of c.phases) {
        // Phases that overlap (train within fit, in older results) have no meaningful sum.
        if (p.phase === 'total' && c.phases.some((q) => q.phase === 'fit')) continue;
        lines.push(
          `| ${c.label} | ${p.phase} | ${ms(p.ms)} | ${rate(p)} | ${mib(p.peakRss.median)} | ${mib(p.rssGrowth.median)} | ${p.timeRatio === undefined ? '–' : fmt(p.timeRatio, 2)} | ${escapeCell(extraText(p))}${c.errors.length ? ` (${c.errors.length} failed run${c.errors.length > 1 ? 's' : ''}: ${escapeCell(c.errors[0]!)})` : ''} |`,
        );
      }
    }
    lines.push('');
    for (const t of s.targets) lines.push(`- ${verdict(t)} — ${t.text}: ${targetValue(t)}`);
    for (const n of s.notes) lines.push(`- Note: ${n}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function labelOf(def: Scenario | undefined, id: string): string {
  return def?.contenders.find((c: Contender) => c.id === id)?.label ?? id;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ').slice(0, 300);
}
