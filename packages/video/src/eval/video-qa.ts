/**
 * Video QA on held-out clips of the synthetic world (§7.5 in miniature), by question type
 * (`VIDEO_QA_TYPES`), in the shared QA-report shape (`{ n, accuracy[row][type], examples }`, as the
 * image eval's `VqaReport`), with three rows:
 *   - `core`: the frozen core alone, the question without the clip (its prior);
 *   - `image`: the image model alone shown the clip's middle frame (the paper's starting point);
 *   - `video`: the image model with the video adapter, shown the whole clip.
 * Greedy answers, graded on the type's key word (`gradeVideoQa`).
 */
import { END_OF_TEXT_ID, EOT_ID, Generator, type LanguageCore, type Llama3Tokenizer, buildDecoder } from '@herd/llama3';
import { type Device } from '@herd/runtime';
import { type VisionWeights, imageQuestionIds } from '@herd/vision';
import { type ClipSampling } from '../config.js';
import { type VideoExample } from '../data/features.js';
import { VIDEO_QA_TYPES, type VideoQaType, gradeVideoQa, videoQuestions } from '../data/qa.js';
import { VideoGenerator } from '../model/generate.js';
import { type VideoModelConfig } from '../model/graphs.js';

export const VIDEO_QA_ROWS = ['core', 'image', 'video'] as const;
export type VideoQaRow = (typeof VIDEO_QA_ROWS)[number];

export interface VideoQaItem {
  readonly clip: VideoExample;
  readonly type: VideoQaType;
  readonly question: string;
  readonly answer: string;
}

/** Up to `perType` questions of each type from the clips, the first of that type per clip. */
export function videoQaItems(clips: readonly VideoExample[], perType: number): VideoQaItem[] {
  const out: VideoQaItem[] = [];
  for (const type of VIDEO_QA_TYPES) {
    let n = 0;
    for (const clip of clips) {
      if (n >= perType) break;
      const q = videoQuestions(clip.objects).find((x) => x.type === type);
      if (!q) continue;
      out.push({ clip, type, question: q.question, answer: q.answer });
      n++;
    }
  }
  return out;
}

export interface VideoQaReport {
  readonly n: Readonly<Record<VideoQaType, number>>;
  /** Accuracy by row and question type, in [0, 1]. */
  readonly accuracy: Readonly<Record<VideoQaRow, Readonly<Record<VideoQaType, number>>>>;
  readonly examples: readonly { readonly type: VideoQaType; readonly question: string; readonly reference: string; readonly answers: Readonly<Record<VideoQaRow, string>> }[];
}

export interface VideoQaEvalOptions {
  readonly config: VideoModelConfig;
  readonly clip: ClipSampling;
  readonly core: LanguageCore;
  readonly vision: VisionWeights;
  readonly video: VisionWeights;
  readonly tokenizer: Llama3Tokenizer;
  readonly items: readonly VideoQaItem[];
  readonly maxNewTokens?: number;
  /** Where the generators' ONNX sessions run; resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
  /** Called with every item's three answers and grades as it is scored (the report keeps only the first 12): for reading wrong answers (`videoQaAnswerLine`). */
  readonly onItem?: (item: VideoQaItem, answers: Readonly<Record<VideoQaRow, string>>, hits: Readonly<Record<VideoQaRow, boolean>>) => void;
}

/**
 * One item's answers as a JSON line (no newline): clip key, question type, question, reference, each row's answer and
 * grade — the image eval's line (`vqaAnswerLine` in @herd/vision) with the clip in the scene's place. What
 * `herd video eval --answers` writes.
 */
export function videoQaAnswerLine(item: VideoQaItem, answers: Readonly<Record<VideoQaRow, string>>, hits: Readonly<Record<VideoQaRow, boolean>>): string {
  return JSON.stringify({ clip: item.clip.key, type: item.type, question: item.question, reference: item.answer, answers, hits });
}

export async function evaluateVideoQa(o: VideoQaEvalOptions): Promise<VideoQaReport> {
  const { config: m, core, tokenizer: tok } = o;
  const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  const sampling = { maxNewTokens: o.maxNewTokens ?? 16, temperature: 0, stopTokens: stops };
  const text = (ids: readonly number[]) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();
  const plain = await Generator.create(m.image.text, buildDecoder(m.image.text, core.weights), { device: o.device });
  const gen = VideoGenerator.create(m, o.clip, core.weights, o.vision, o.video, { device: o.device });
  const hits = Object.fromEntries(VIDEO_QA_ROWS.map((r) => [r, Object.fromEntries(VIDEO_QA_TYPES.map((t) => [t, 0]))])) as Record<VideoQaRow, Record<VideoQaType, number>>;
  const n = Object.fromEntries(VIDEO_QA_TYPES.map((t) => [t, 0])) as Record<VideoQaType, number>;
  const examples: VideoQaReport['examples'][number][] = [];
  try {
    for (const item of o.items) {
      const ctx = await gen.context(item.clip.clip);
      const prompt = imageQuestionIds(tok, core, m.image, item.question);
      const answers: Record<VideoQaRow, string> = {
        core: text(await plain.complete(toModel(tok.encodeChat([{ role: 'user', content: item.question }], { addGenerationPrompt: true })), sampling)),
        image: text(await gen.complete(prompt, ctx, sampling, { imageOnly: true })),
        video: text(await gen.complete(prompt, ctx, sampling)),
      };
      n[item.type]++;
      const graded = Object.fromEntries(VIDEO_QA_ROWS.map((r) => [r, gradeVideoQa(item.type, answers[r], item.answer)])) as Record<VideoQaRow, boolean>;
      for (const r of VIDEO_QA_ROWS) if (graded[r]) hits[r][item.type]++;
      o.onItem?.(item, answers, graded);
      if (examples.length < 12) examples.push({ type: item.type, question: item.question, reference: item.answer, answers });
    }
  } finally {
    await plain.release();
    await gen.release();
  }
  const accuracy = Object.fromEntries(VIDEO_QA_ROWS.map((r) => [r, Object.fromEntries(VIDEO_QA_TYPES.map((t) => [t, n[t] ? hits[r][t] / n[t] : 0]))])) as VideoQaReport['accuracy'];
  return { n, accuracy, examples };
}

/** The report as a markdown table (percentages). */
export function videoQaTable(r: VideoQaReport): string {
  const label: Record<VideoQaRow, string> = { core: 'core alone (no clip)', image: 'image model, middle frame', video: 'image model + video adapter' };
  const head = `| | ${VIDEO_QA_TYPES.map((t) => `${t} (n=${r.n[t]})`).join(' | ')} |\n|---|${VIDEO_QA_TYPES.map(() => '---').join('|')}|\n`;
  return head + VIDEO_QA_ROWS.map((row) => `| ${label[row]} | ${VIDEO_QA_TYPES.map((t) => `${(100 * r.accuracy[row][t]).toFixed(0)}%`).join(' | ')} |`).join('\n') + '\n';
}
