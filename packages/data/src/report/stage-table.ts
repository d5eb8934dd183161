/**
 * The per-stage part of every curation report (image, speech, video): one row per stage with what it
 * kept and dropped and why, as JSON and as a Markdown table.
 */
import { type RunStats } from '../runner/stats.js';

export interface StageSummary {
  name: string;
  kind: string;
  in: number;
  kept: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  samplesPerSecond: number | null;
}

export function stageSummaries(stats: RunStats): StageSummary[] {
  return stats.stages.map((s) => ({ name: s.name, kind: s.kind, in: s.in, kept: s.kept, dropped: s.dropped, droppedByReason: s.droppedByReason, samplesPerSecond: s.samplesPerSecond }));
}

/** The Markdown table of the stages; `unit` names what a sample is (samples, clips), `digits` the rate's decimals. */
export function stageTableMarkdown(stages: readonly StageSummary[], unit = 'samples', digits = 1): string[] {
  return [
    `| stage | in | kept | dropped | ${unit}/s | drops by reason |`,
    '|---|---|---|---|---|---|',
    ...stages.map((s) => `| ${s.name} | ${s.in} | ${s.kept} | ${s.dropped} | ${s.samplesPerSecond === null ? '–' : s.samplesPerSecond.toFixed(digits)} | ${Object.entries(s.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')} |`),
  ];
}
