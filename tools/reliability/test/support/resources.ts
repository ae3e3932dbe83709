/** File descriptors, sockets and memory of this process, read from /proc (Linux). */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface FdCount {
  fds: number;
  sockets: number;
}

function socketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked (readdir's own fd, for one)
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  return inodes;
}

export function countFds(): FdCount {
  const fds = readdirSync('/proc/self/fd').length;
  return { fds, sockets: socketInodes().size };
}

/** Open TCP sockets of this process whose remote port is `port` (client connections to a local server). */
export function socketsTo(port: number): number {
  const ours = socketInodes();
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const remotePort = Number.parseInt(fields[2]!.split(':')[1]!, 16);
      if (remotePort === port && ours.has(fields[9]!)) count += 1;
    }
  }
  return count;
}

/** Polls until `check` holds or `ms` pass; returns whether it held. */
export async function settle(check: () => boolean, ms: number, stepMs = 100): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

export interface MemorySample {
  at: number;
  rss: number;
  heapUsed: number;
}

/** Samples memory every `everyMs` (after a full GC when the process runs with --expose-gc). */
export function sampleMemory(everyMs: number): { samples: MemorySample[]; stop: () => void } {
  const samples: MemorySample[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  const take = () => {
    gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    samples.push({ at: Date.now(), rss, heapUsed });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
    },
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** Medians of the first and last quarter of the samples: flat memory keeps them close. */
export function memoryTrend(samples: MemorySample[]): { firstQuartileRss: number; lastQuartileRss: number; firstQuartileHeap: number; lastQuartileHeap: number; peakRss: number } {
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const first = samples.slice(0, quarter);
  const last = samples.slice(-quarter);
  return {
    firstQuartileRss: median(first.map((s) => s.rss)),
    lastQuartileRss: median(last.map((s) => s.rss)),
    firstQuartileHeap: median(first.map((s) => s.heapUsed)),
    lastQuartileHeap: median(last.map((s) => s.heapUsed)),
    peakRss: Math.max(...samples.map((s) => s.rss)),
  };
}
