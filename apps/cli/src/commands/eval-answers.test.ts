/**
 * `herd vision eval --answers FILE` and `herd video eval --answers FILE`: every held-out item's answers as JSON lines
 * (`vqaAnswerLine` / `videoQaAnswerLine`, the line the vision oracle bench writes), written atomically. Checked against
 * the eval's own report: one line per item, each row's grade the shared grader's verdict on the answer written, the
 * grades tallying to the report's accuracies, the first lines' answers the report's examples.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateWorld } from '@herd/datasets';
import { VIDEO_QA_ROWS, type VideoQaReport, gradeVideoQa, writeClipWorld } from '@herd/video';
import { VQA_ROWS, type VqaReport, gradeVqa } from '@herd/vision';
import { herd } from '../test-support/run-herd.js';

const root = mkdtempSync(join(tmpdir(), 'herd-cli-eval-answers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Line {
  readonly type: string;
  readonly question: string;
  readonly reference: string;
  readonly answers: Record<string, string>;
  readonly hits: Record<string, boolean>;
}

/** The lines of FILE, alone in its folder (no temp file left behind). */
function readLines(dir: string): Record<string, unknown>[] {
  expect(readdirSync(dir)).toEqual(['answers.jsonl']);
  const text = readFileSync(join(dir, 'answers.jsonl'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Each line graded as `grade` grades it, and the grades tally to the report's accuracy per row and type. */
function expectConsistent(lines: readonly Line[], rows: readonly string[], report: { n: Record<string, number>; accuracy: Record<string, Record<string, number>>; examples: readonly { question: string; reference: string; answers: Record<string, string> }[] }, grade: (type: string, answer: string, reference: string) => boolean): void {
  expect(lines.length).toBe(Object.values(report.n).reduce((a, b) => a + b, 0));
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) {
    expect(Object.keys(l.answers).sort()).toEqual([...rows].sort());
    for (const r of rows) expect(l.hits[r], `${l.question} (${r}): "${l.answers[r]}" vs "${l.reference}"`).toBe(grade(l.type, l.answers[r]!, l.reference));
  }
  for (const r of rows) {
    for (const [type, n] of Object.entries(report.n)) {
      const of = lines.filter((l) => l.type === type);
      expect(of.length).toBe(n);
      expect(n ? of.filter((l) => l.hits[r]).length / n : 0, `${r} ${type}`).toBeCloseTo(report.accuracy[r]![type]!, 12);
    }
  }
  expect(lines.slice(0, report.examples.length).map((l) => [l.question, l.reference, l.answers])).toEqual(report.examples.map((e) => [e.question, e.reference, e.answers]));
}

describe('eval --answers FILE', () => {
  it('herd vision eval: a line per held-out item (scene, groups, type, question, reference, answers, hits)', async () => {
    await generateWorld({ out: join(root, 'world'), size: 'tiny', only: ['images'], counts: { images: 60 }, noiseRate: 0, seed: 11 });
    const out = join(root, 'vision-answers');
    const r = await herd(['vision', 'eval', '--data', join(root, 'world', 'images'), '--per-type', '1', '--json', '--answers', join(out, 'answers.jsonl'), '--device', 'cpu']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as VqaReport;
    const lines = readLines(out);
    for (const l of lines) expect(Object.keys(l)).toEqual(['scene', 'groups', 'type', 'question', 'reference', 'answers', 'hits']);
    expect(lines.every((l) => typeof l['scene'] === 'string' && typeof l['groups'] === 'number')).toBe(true);
    expectConsistent(lines as unknown as Line[], VQA_ROWS, report as unknown as Parameters<typeof expectConsistent>[2], (t, a, ref) => gradeVqa(t as Parameters<typeof gradeVqa>[0], a, ref));
  }, 240_000);

  it('herd video eval: a line per held-out item (clip, type, question, reference, answers, hits)', async () => {
    const clips = join(root, 'clips');
    await writeClipWorld({ out: clips, count: 10, seed: 12, seconds: [1, 1], side: [64, 64], heldoutFraction: 0.5 });
    const out = join(root, 'video-answers');
    const r = await herd(['video', 'eval', '--data', clips, '--clips', '10', '--per-type', '1', '--json', '--answers', join(out, 'answers.jsonl'), '--device', 'cpu']);
    expect(r.err).not.toMatch(/^herd: /m);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as VideoQaReport;
    const lines = readLines(out);
    for (const l of lines) expect(Object.keys(l)).toEqual(['clip', 'type', 'question', 'reference', 'answers', 'hits']);
    expect(new Set(lines.map((l) => l['clip'])).size).toBeGreaterThan(0);
    expectConsistent(lines as unknown as Line[], VIDEO_QA_ROWS, report as unknown as Parameters<typeof expectConsistent>[2], (t, a, ref) => gradeVideoQa(t as Parameters<typeof gradeVideoQa>[0], a, ref));
  }, 240_000);
});
