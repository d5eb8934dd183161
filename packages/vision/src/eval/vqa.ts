/**
 * Visual QA on held-out scenes (§7.5 in miniature), by question type, in three rows:
 *   - `core`: the frozen core alone, question without the image (chance level or the core's prior);
 *   - `adapter`: the core with the trained encoder + adapter, question about the image;
 *   - `blind`: the same model with the image's pixels zeroed and no place embeddings (`blindImage`; the blind control: what the adapter
 *     answers from the question alone — a text prior learnt through its gates, not sight; an adapter
 *     that sees must beat it, the core-alone row cannot tell the two apart);
 *   - `described`: the core alone answering from the scene's caption in words (the upper bound the
 *     core allows: it sees the facts, only its text skill limits it).
 * Grading: the key words of the question's type in the reference answer (its colour, shape, number,
 * position or written word) must all appear in the greedy answer, and no other key word of that type
 * (so "red and blue" does not pass for "red"): @herd/llama3's `gradeSceneQa`, which the text and
 * spoken-QA evals share.
 */
import { END_OF_TEXT_ID, EOT_ID, Generator, type LanguageCore, type Llama3Tokenizer, buildDecoder, gradeSceneQa } from '@herd/llama3';
import { type Device } from '@herd/runtime';
import { type MllamaConfig } from '../config.js';
import { type TiledImage } from '../data/tiling.js';
import { VisionGenerator } from '../model/generate.js';
import { type VisionWeights } from '../model/graphs.js';
import { type SceneExample, countQuestionsByNumber, imageQuestionIds, showsFact, statedCount } from '../train/mini.js';

export const VQA_TYPES = ['colour', 'shape', 'count', 'position', 'word'] as const;
export type VqaType = (typeof VQA_TYPES)[number];
export const VQA_ROWS = ['core', 'adapter', 'blind', 'described'] as const;
export type VqaRow = (typeof VQA_ROWS)[number];

/** Whether `answer` gives the reference's fact for a question of `type` (the shared scene-QA grader). */
export function gradeVqa(type: VqaType, answer: string, reference: string): boolean {
  return gradeSceneQa(type, answer, reference);
}

export interface VqaItem {
  readonly scene: SceneExample;
  readonly type: VqaType;
  readonly question: string;
  readonly answer: string;
}

export interface VqaItemOptions {
  /**
   * Count items balanced by the reference number (round 24): every number some scene's count question states (0 for an
   * absent shape, 1, 2, 3 …) gets an equal share of the `perType` items, taken round-robin by number (rarest first) in
   * scene order, one item per scene (a number with too few scenes gives its share to the others). Off: the first count question of each
   * scene, as every recorded number was measured (40 of the shared world's first 50 are "one", none is zero).
   */
  readonly countBalance?: boolean;
}

/**
 * Up to `perType` questions of each type from held-out scenes, the first of that type per scene (word: scenes with a
 * word); with `countBalance`, count items balanced by the reference number (`VqaItemOptions.countBalance`).
 */
export function vqaItems(scenes: readonly SceneExample[], perType: number, o: VqaItemOptions = {}): VqaItem[] {
  const out: VqaItem[] = [];
  for (const type of VQA_TYPES) {
    if (type === 'count' && o.countBalance) {
      out.push(...countBalancedItems(scenes, perType));
      continue;
    }
    let n = 0;
    for (const scene of scenes) {
      if (n >= perType) break;
      // Word questions only where a word is written: "no word" would reward a model that never reads.
      const q = scene.qa.find((x) => x.type === type && showsFact(x));
      if (!q) continue;
      out.push({ scene, type, question: q.question, answer: q.answer });
      n++;
    }
  }
  return out;
}

/** `perType` count items, round-robin over the reference numbers (rarest first) in scene order, one per scene. */
function countBalancedItems(scenes: readonly SceneExample[], perType: number): VqaItem[] {
  const byNumber = countQuestionsByNumber(scenes);
  // The rarest number picks first in each round, so a scene that also has a common number's question serves the rare one.
  const queues = [...byNumber.entries()].sort((a, b) => a[1].length - b[1].length || a[0] - b[0]).map(([, xs]) => xs);
  const used = new Set<SceneExample>();
  const out: VqaItem[] = [];
  for (let progress = true; progress && out.length < perType;) {
    progress = false;
    for (const queue of queues) {
      if (out.length >= perType) break;
      let next = queue.shift();
      while (next && used.has(next.scene)) next = queue.shift();
      if (!next) continue;
      used.add(next.scene);
      out.push({ scene: next.scene, type: 'count', question: next.q.question, answer: next.q.answer });
      progress = true;
    }
  }
  return out;
}

/** Scenes with one object group vs several: a question about a named shape in a scene of several groups needs the shape FOUND. */
export const VQA_GROUPS = ['one', 'several'] as const;
export type VqaGroups = (typeof VQA_GROUPS)[number];

export interface VqaGroupSplit {
  readonly n: Readonly<Record<VqaType, number>>;
  /** Accuracy of the adapter and its blind control, in [0, 1]. */
  readonly adapter: Readonly<Record<VqaType, number>>;
  readonly blind: Readonly<Record<VqaType, number>>;
}

/** The count items of one reference number: how many, each row's accuracy, and the numbers the adapter said. */
export interface VqaCountSplit {
  /** The number the reference states (0: "There are no X."). */
  readonly number: number;
  readonly n: number;
  /** Accuracy of the adapter, its blind control and the core given the scene in words, in [0, 1]. */
  readonly adapter: number;
  readonly blind: number;
  readonly described: number;
  /** How often the adapter's answer stated each number ('?': none or several), most often first. */
  readonly adapterSaid: Readonly<Record<string, number>>;
}

export interface VqaReport {
  readonly n: Readonly<Record<VqaType, number>>;
  /** Accuracy by row and question type, in [0, 1]. */
  readonly accuracy: Readonly<Record<VqaRow, Readonly<Record<VqaType, number>>>>;
  /** The adapter and blind rows split by the scene's number of object groups (items whose scene has no spec are left out). */
  readonly byGroups: Readonly<Record<VqaGroups, VqaGroupSplit>>;
  /** The count items by their reference number, ascending (round 24: a count score of "one" items measures "says One"). */
  readonly byCount: readonly VqaCountSplit[];
  readonly examples: readonly { readonly type: VqaType; readonly question: string; readonly reference: string; readonly answers: Readonly<Record<VqaRow, string>> }[];
}

export interface VqaEvalOptions {
  readonly config: MllamaConfig;
  readonly core: LanguageCore;
  readonly vision: VisionWeights;
  readonly tokenizer: Llama3Tokenizer;
  readonly items: readonly VqaItem[];
  readonly maxNewTokens?: number;
  /** Where the generators' ONNX sessions run; resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
  /** Called with every item's four answers and grades as it is scored (the report keeps only the first 10): for reading wrong answers (`vqaAnswerLine`). */
  readonly onItem?: (item: VqaItem, answers: Readonly<Record<VqaRow, string>>, hits: Readonly<Record<VqaRow, boolean>>) => void;
}

/**
 * One item's answers as a JSON line (no newline): scene key, its number of object groups (absent without a scene spec),
 * question type, question, reference, each row's answer and grade. What `herd vision eval --answers` and the vision
 * oracle bench write from `onItem`, for reading the wrong answers.
 */
export function vqaAnswerLine(item: VqaItem, answers: Readonly<Record<VqaRow, string>>, hits: Readonly<Record<VqaRow, boolean>>): string {
  return JSON.stringify({ scene: item.scene.key, groups: item.scene.scene?.objects.length, type: item.type, question: item.question, reference: item.answer, answers, hits });
}

/** Greedy decoding settings and the answer's text for the core's (possibly pruned) vocabulary. */
function vqaDecoding(o: Pick<VqaEvalOptions, 'core' | 'tokenizer' | 'maxNewTokens'>) {
  const { core, tokenizer: tok } = o;
  const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  const sampling = { maxNewTokens: o.maxNewTokens ?? 24, temperature: 0, stopTokens: stops };
  const text = (ids: readonly number[]) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();
  return { toModel, sampling, text };
}

/**
 * The adapter row alone (accuracy by type, in [0, 1]): the cheap score a training run selects its checkpoint
 * by (`MiniVisionRecipe.selectEvery`), without the core-alone, blind and in-words rows.
 */
export async function vqaAdapterAccuracy(o: VqaEvalOptions): Promise<Record<VqaType, number>> {
  const { sampling, text } = vqaDecoding(o);
  const vision = VisionGenerator.create(o.config, o.core.weights, o.vision, { device: o.device });
  const hits: { type: VqaType; hit: boolean }[] = [];
  try {
    for (const item of o.items) {
      const answer = text(await vision.complete(imageQuestionIds(o.tokenizer, o.core, o.config, item.question), [item.scene.image], sampling));
      hits.push({ type: item.type, hit: gradeVqa(item.type, answer, item.answer) });
    }
  } finally {
    await vision.release();
  }
  return accuracyByType(hits);
}

/** The share of right answers per question type (0 for a type with no questions): one tally for every row and the selection score. */
function accuracyByType(xs: readonly { readonly type: VqaType; readonly hit: boolean }[]): Record<VqaType, number> {
  return Object.fromEntries(VQA_TYPES.map((t) => {
    const of = xs.filter((x) => x.type === t);
    return [t, of.length ? of.filter((x) => x.hit).length / of.length : 0];
  })) as Record<VqaType, number>;
}

/** The rows that need no image: the core asked the question alone, and asked it after the scene's caption. */
type CoreRow = 'core' | 'described';

/** The core's two image-free answers to an item, greedy, from a plain (text-only) generator of it. */
async function coreRowAnswers(plain: Generator, o: Pick<VqaEvalOptions, 'core' | 'tokenizer' | 'maxNewTokens'>, item: VqaItem): Promise<Record<CoreRow, string>> {
  const { toModel, sampling, text } = vqaDecoding(o);
  const ask = (content: string) => toModel(o.tokenizer.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true }));
  return {
    core: text(await plain.complete(ask(item.question), sampling)),
    described: text(await plain.complete(ask(`${item.scene.caption} ${item.question}`), sampling)),
  };
}

/** The two image-free rows' accuracy by type (`evaluateCoreRows`). */
export interface VqaCoreRowsReport {
  readonly n: Readonly<Record<VqaType, number>>;
  readonly accuracy: Readonly<Record<CoreRow, Readonly<Record<VqaType, number>>>>;
}

/**
 * Only the rows that need no vision checkpoint — the core alone and the core given the scene in words — on the same
 * items and with the same prompts and grading as `evaluateVqa`: a candidate core's ceiling (and its chance level) before
 * any adapter is fitted to it.
 */
export async function evaluateCoreRows(o: Omit<VqaEvalOptions, 'config' | 'vision' | 'onItem'>): Promise<VqaCoreRowsReport> {
  const plain = await Generator.create(o.core.config, buildDecoder(o.core.config, o.core.weights), { device: o.device });
  const hits: { type: VqaType; core: boolean; described: boolean }[] = [];
  try {
    for (const item of o.items) {
      const a = await coreRowAnswers(plain, o, item);
      hits.push({ type: item.type, core: gradeVqa(item.type, a.core, item.answer), described: gradeVqa(item.type, a.described, item.answer) });
    }
  } finally {
    await plain.release();
  }
  const n = Object.fromEntries(VQA_TYPES.map((t) => [t, hits.filter((h) => h.type === t).length])) as Record<VqaType, number>;
  const rate = (row: CoreRow) => accuracyByType(hits.map((h) => ({ type: h.type, hit: h[row] })));
  return { n, accuracy: { core: rate('core'), described: rate('described') } };
}

/** `evaluateCoreRows`' report as a markdown table (percentages), in `vqaTable`'s layout and row names. */
export function vqaCoreRowsTable(r: VqaCoreRowsReport): string {
  return accuracyTable(r.n, (['core', 'described'] as const).map((row) => [VQA_ROW_LABELS[row], r.accuracy[row]]));
}

export async function evaluateVqa(o: VqaEvalOptions): Promise<VqaReport> {
  const { config: m, core, tokenizer: tok } = o;
  const { sampling, text } = vqaDecoding(o);
  const plain = await Generator.create(m.text, buildDecoder(m.text, core.weights), { device: o.device });
  const vision = VisionGenerator.create(m, core.weights, o.vision, { device: o.device });
  const graded: GradedVqa[] = [];
  const examples: VqaReport['examples'][number][] = [];
  try {
    for (const item of o.items) {
      const imageFree = await coreRowAnswers(plain, o, item);
      const answers: Record<VqaRow, string> = {
        core: imageFree.core,
        adapter: text(await vision.complete(imageQuestionIds(tok, core, m, item.question), [item.scene.image], sampling)),
        blind: text(await vision.complete(imageQuestionIds(tok, core, m, item.question), [blindImage(item.scene.image)], sampling)),
        described: imageFree.described,
      };
      const hits = Object.fromEntries(VQA_ROWS.map((r) => [r, gradeVqa(item.type, answers[r], item.answer)])) as Record<VqaRow, boolean>;
      const counted = item.type === 'count' ? statedCount(item.answer) : undefined;
      graded.push({ type: item.type, ...(item.scene.scene ? { groups: item.scene.scene.objects.length } : {}), ...(counted !== undefined ? { count: counted, adapterCount: statedCount(answers.adapter) ?? null } : {}), hits });
      o.onItem?.(item, answers, hits);
      if (examples.length < 10) examples.push({ type: item.type, question: item.question, reference: item.answer, answers });
    }
  } finally {
    await plain.release();
    await vision.release();
  }
  return { ...tallyVqa(graded), examples };
}

/** One graded question: its type, its scene's number of object groups (when known) and which rows answered it right. */
export interface GradedVqa {
  readonly type: VqaType;
  readonly groups?: number;
  /** Count items: the number the reference states, and the one the adapter's answer states (null: none or several). */
  readonly count?: number;
  readonly adapterCount?: number | null;
  readonly hits: Readonly<Record<VqaRow, boolean>>;
}

/** Accuracy by row and type, the adapter / blind rows split by one vs several object groups, and count items by reference number. */
export function tallyVqa(graded: readonly GradedVqa[]): Omit<VqaReport, 'examples'> {
  const byType = <T>(f: (t: VqaType) => T) => Object.fromEntries(VQA_TYPES.map((t) => [t, f(t)])) as Record<VqaType, T>;
  const count = (xs: readonly GradedVqa[]) => byType((t) => xs.filter((g) => g.type === t).length);
  const rate = (xs: readonly GradedVqa[], row: VqaRow) => accuracyByType(xs.map((g) => ({ type: g.type, hit: g.hits[row] })));
  const split = (xs: readonly GradedVqa[]): VqaGroupSplit => ({ n: count(xs), adapter: rate(xs, 'adapter'), blind: rate(xs, 'blind') });
  return {
    n: count(graded),
    accuracy: Object.fromEntries(VQA_ROWS.map((r) => [r, rate(graded, r)])) as VqaReport['accuracy'],
    byGroups: { one: split(graded.filter((g) => g.groups === 1)), several: split(graded.filter((g) => g.groups !== undefined && g.groups > 1)) },
    byCount: byCountNumber(graded),
  };
}

function byCountNumber(graded: readonly GradedVqa[]): VqaCountSplit[] {
  const counted = graded.filter((g) => g.type === 'count' && g.count !== undefined);
  const numbers = [...new Set(counted.map((g) => g.count!))].sort((a, b) => a - b);
  return numbers.map((k) => {
    const of = counted.filter((g) => g.count === k);
    const rate = (row: VqaRow) => of.filter((g) => g.hits[row]).length / of.length;
    const said = new Map<string, number>();
    for (const g of of) {
      const w = g.adapterCount === undefined || g.adapterCount === null ? '?' : String(g.adapterCount);
      said.set(w, (said.get(w) ?? 0) + 1);
    }
    const adapterSaid = Object.fromEntries([...said].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
    return { number: k, n: of.length, adapter: rate('adapter'), blind: rate('blind'), described: rate('described'), adapterSaid };
  });
}

/**
 * The blind control's input: the image with its pixel values (and given encoder features, if any) zeroed and no place
 * embeddings on its tokens (`noPlace`; a model with `placeBins` would otherwise still add each patch's row / column table
 * rows); tiling, tile mask and aspect ratio kept.
 */
export function blindImage(image: TiledImage): TiledImage {
  return { ...image, pixels: new Float32Array(image.pixels.length), ...(image.features ? { features: new Float32Array(image.features.length) } : {}), noPlace: true };
}

/** The report as a markdown table (percentages). */
export function vqaTable(r: VqaReport): string {
  return accuracyTable(r.n, VQA_ROWS.map((row) => [VQA_ROW_LABELS[row], r.accuracy[row]]));
}

const VQA_ROW_LABELS: Record<VqaRow, string> = { core: 'core alone (no image)', adapter: 'core + vision adapter', blind: 'core + vision adapter, zeroed pixels (blind control)', described: 'core + scene in words (upper bound)' };

/** Rows of accuracy by question type as a markdown table, each type's column headed with its n. */
function accuracyTable(n: Readonly<Record<VqaType, number>>, rows: readonly (readonly [string, Readonly<Record<VqaType, number>>])[]): string {
  const head = `| | ${VQA_TYPES.map((t) => `${t} (n=${n[t]})`).join(' | ')} |\n|---|${VQA_TYPES.map(() => '---').join('|')}|\n`;
  return head + rows.map(([label, acc]) => `| ${label} | ${VQA_TYPES.map((t) => `${(100 * acc[t]).toFixed(0)}%`).join(' | ')} |`).join('\n') + '\n';
}

/**
 * The adapter and blind rows by the scene's number of object groups, as a markdown table: where one-group
 * scenes are right and several-group scenes are not, the adapter reads the fact but does not find the named shape.
 */
export function vqaGroupTable(r: VqaReport): string {
  const head = `| | ${VQA_TYPES.join(' | ')} |\n|---|${VQA_TYPES.map(() => '---').join('|')}|\n`;
  const label: Record<VqaGroups, string> = { one: 'one object group', several: 'several object groups' };
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  return head + VQA_GROUPS.map((g) => {
    const s = r.byGroups[g];
    return `| ${label[g]}: adapter / blind (n) | ${VQA_TYPES.map((t) => `${pct(s.adapter[t])} / ${pct(s.blind[t])} (${s.n[t]})`).join(' | ')} |`;
  }).join('\n') + '\n';
}

/**
 * The count items by reference number, as a markdown table: each row's accuracy and what the adapter said (e.g.
 * "1×9, 0×3": nine answers state one, three zero), so that "answers One to everything" cannot pass for counting.
 */
export function vqaCountTable(r: Pick<VqaReport, 'byCount'>): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const head = '| count reference | n | adapter | blind control | scene in words | adapter said (number×items) |\n|---|---|---|---|---|---|\n';
  return head + r.byCount.map((c) => `| ${c.number} | ${c.n} | ${pct(c.adapter)} | ${pct(c.blind)} | ${pct(c.described)} | ${Object.entries(c.adapterSaid).map(([k, m]) => `${k}×${m}`).join(', ')} |`).join('\n') + '\n';
}
