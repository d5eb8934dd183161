/** Counts one stage keeps on one shard; summed over shards into StageStats. */
export interface StageCounter {
  in: number;
  kept: number;
  /** Drops per reason code (the part of the reason before ':'). */
  dropped: Record<string, number>;
  seconds: number;
}

export interface StageStats {
  name: string;
  kind: 'read' | 'sample' | 'global';
  in: number;
  kept: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  /** Time spent inside the stage, summed over workers. */
  seconds: number;
  /** in / seconds; null when no time was measured. */
  samplesPerSecond: number | null;
}

export interface RunStats {
  input: string;
  output: string;
  workers: number;
  passes: number;
  /** Samples read (kept + dropped); differs from `promised` only when shards hold more or fewer samples than the manifest says. */
  in: number;
  /** What the input manifest says it holds (`totalCount`). */
  promised: number;
  out: number;
  dropped: number;
  /** Damage not tied to one sample (index lines, bad tar headers, bytes after the end-of-archive), at most 200. */
  problems: string[];
  /** Wall time of the invocation that finished the run (a resumed run counts only its own part). */
  wallSeconds: number;
  stages: StageStats[];
}

export function emptyCounter(): StageCounter {
  return { in: 0, kept: 0, dropped: {}, seconds: 0 };
}

export function addCounter(into: StageCounter, c: StageCounter): void {
  into.in += c.in;
  into.kept += c.kept;
  into.seconds += c.seconds;
  for (const [r, n] of Object.entries(c.dropped)) into.dropped[r] = (into.dropped[r] ?? 0) + n;
}

export function toStageStats(name: string, kind: StageStats['kind'], c: StageCounter): StageStats {
  const sorted = Object.entries(c.dropped).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const dropped = sorted.reduce((n, [, k]) => n + k, 0);
  return {
    name,
    kind,
    in: c.in,
    kept: c.kept,
    dropped,
    droppedByReason: Object.fromEntries(sorted),
    seconds: c.seconds,
    samplesPerSecond: c.seconds > 0 ? c.in / c.seconds : null,
  };
}

/** The statistics as an aligned text table, one row per stage and an indented row per drop reason. */
export function formatStats(stats: RunStats): string {
  const header = ['stage', 'kind', 'in', 'kept', 'dropped', 'seconds', 'samples/s'];
  const rows: string[][] = [header];
  for (const s of stats.stages) {
    rows.push([s.name, s.kind, String(s.in), String(s.kept), String(s.dropped), s.seconds.toFixed(2), s.samplesPerSecond === null ? '-' : s.samplesPerSecond.toFixed(0)]);
    for (const [reason, n] of Object.entries(s.droppedByReason)) rows.push([`  ${reason}`, '', '', '', String(n), '', '']);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, i) => (i === 0 || i === 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  const out = rows.map(line);
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  for (const p of stats.problems ?? []) out.push(`problem: ${p}`);
  out.push('', `${stats.in} in, ${stats.out} out (${stats.in > 0 ? ((100 * stats.out) / stats.in).toFixed(1) : '0.0'}% kept), ${stats.passes} pass(es), ${stats.workers} worker(s), ${stats.wallSeconds.toFixed(1)} s`);
  return out.join('\n');
}
