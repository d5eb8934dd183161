/**
 * The report every curation run writes (image, speech, video): after the run, one pass over the kept
 * samples collects the scores the stages recorded under `meta.curation`, draws one SVG histogram per
 * score, and writes `report.json` and `report.md` (counts, rate, the per-stage table, links to the
 * histograms, the modality's own sections, what is pending). A modality names its histograms and
 * adds its own fields and sections; the rest is here, once.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@herd/core';
import { iterateDataset } from '../format/read.js';
import { isUnreadable, type Sample } from '../sample.js';
import { type RunStats } from '../runner/stats.js';
import { CURATION_FIELD } from '../stages/scores.js';
import { HistogramBuilder, histogramSvg } from './histogram.js';
import { type StageSummary, stageSummaries, stageTableMarkdown } from './stage-table.js';

export const CURATION_REPORT_FILE = 'report.json';
export const CURATION_REPORT_MD = 'report.md';

/** One histogram: the number `field` recorded by `stage` on each kept sample (or what `value` makes of the stage's scores). */
export interface ScoreHistogram {
  readonly file: string;
  readonly stage: string;
  readonly field: string;
  readonly title: string;
  readonly value?: (scores: Record<string, unknown>) => unknown;
}

/** What every curation report holds; a modality's report extends it. */
export interface CurationReport {
  input: string;
  output: string;
  in: number;
  out: number;
  wallSeconds: number;
  samplesPerSecond: number;
  stages: StageSummary[];
  histograms: { file: string; title: string; n: number }[];
  pending: string[];
}

export interface CurationReportSpec<X extends object> {
  input: string;
  output: string;
  stats: RunStats;
  histograms: readonly ScoreHistogram[];
  /** What a kept sample is called in histogram titles ("kept samples", "kept clips"). */
  keptLabel?: string;
  /** The title a histogram is listed under (default its plot title). */
  listedTitle?: (h: ScoreHistogram) => string;
  /** Called on every kept sample too (a modality's own totals). */
  visit?: (sample: Sample) => void;
  /** Further histograms from what `visit` gathered: [file, title, values]. */
  extraHistograms?: () => [string, string, HistogramBuilder][];
  /** The modality's own report fields, once every sample was visited. */
  extra: () => X;
  pending: string[];
  markdown: CurationMarkdown<X>;
}

/** How the Markdown report reads. */
export interface CurationMarkdown<X extends object> {
  heading: string;
  /** The opening sentence (default: "N samples in, M out, T s (R samples/s)."). */
  summary?: (r: CurationReport & X) => string;
  /** Unit of the rate column and its decimals. */
  unit?: string;
  digits?: number;
  /** Sections after the histogram list. */
  sections?: (r: CurationReport & X) => string[];
}

export function curationReportMarkdown<X extends object>(r: CurationReport & X, m: CurationMarkdown<X>): string {
  const unit = m.unit ?? 'samples';
  const digits = m.digits ?? 1;
  const lines = [
    `# ${m.heading}`,
    '',
    m.summary ? m.summary(r) : `${r.in} ${unit} in, ${r.out} out, ${r.wallSeconds.toFixed(1)} s (${r.samplesPerSecond.toFixed(digits)} ${unit}/s).`,
    '',
    ...stageTableMarkdown(r.stages, unit, digits),
    '',
    ...r.histograms.map((h) => `- [${h.title}](${h.file}) (n = ${h.n})`),
    ...(m.sections ? m.sections(r) : []),
  ];
  if (r.pending.length) lines.push('', '## Pending', '', ...r.pending.map((p) => `- ${p}`));
  return lines.join('\n') + '\n';
}

/** Reads the kept samples of `output`, writes `histograms/*.svg`, `report.json` and `report.md`, returns the report. */
export async function writeCurationReport<X extends object>(spec: CurationReportSpec<X>): Promise<CurationReport & X> {
  // Bounded memory however many samples were kept (not a number per sample).
  const values = new Map<string, HistogramBuilder>(spec.histograms.map((h) => [h.file, new HistogramBuilder()]));
  for await (const s of iterateDataset(spec.output, { tolerant: true })) {
    if (isUnreadable(s)) continue;
    const c = (s.meta[CURATION_FIELD] ?? {}) as Record<string, Record<string, unknown>>;
    for (const h of spec.histograms) {
      const scores = c[h.stage];
      if (!scores) continue;
      const v = h.value ? h.value(scores) : scores[h.field];
      if (typeof v === 'number' && Number.isFinite(v)) values.get(h.file)?.add(v);
    }
    spec.visit?.(s);
  }
  const dir = join(spec.output, 'histograms');
  await mkdir(dir, { recursive: true });
  const keptLabel = spec.keptLabel ?? 'kept samples';
  const plots: [string, string, string, HistogramBuilder][] = [
    ...spec.histograms.map((h): [string, string, string, HistogramBuilder] => [h.file, h.title, spec.listedTitle ? spec.listedTitle(h) : `${h.title}, ${keptLabel}`, values.get(h.file) ?? new HistogramBuilder()]),
    ...(spec.extraHistograms?.() ?? []).map(([file, title, vals]): [string, string, string, HistogramBuilder] => [file, title, `${title}, ${keptLabel}`, vals]),
  ];
  const histograms: CurationReport['histograms'] = [];
  for (const [file, title, listed, vals] of plots) {
    if (vals.n === 0) continue;
    const h = vals.build(`${title}, ${keptLabel}`);
    await writeFileAtomic(join(dir, `${file}.svg`), histogramSvg(h));
    histograms.push({ file: `histograms/${file}.svg`, title: listed, n: h.n });
  }
  const { stats } = spec;
  const report = {
    input: spec.input,
    output: spec.output,
    in: stats.in,
    out: stats.out,
    wallSeconds: stats.wallSeconds,
    samplesPerSecond: stats.wallSeconds > 0 ? stats.in / stats.wallSeconds : 0,
    stages: stageSummaries(stats),
    histograms,
    ...spec.extra(),
    pending: spec.pending,
  } as CurationReport & X;
  await writeFileAtomic(join(spec.output, CURATION_REPORT_FILE), JSON.stringify(report, null, 2) + '\n');
  await writeFileAtomic(join(spec.output, CURATION_REPORT_MD), curationReportMarkdown(report, spec.markdown));
  return report;
}
