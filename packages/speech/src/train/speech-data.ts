/**
 * The speech fine-tuning data (Llama 3 paper §7.1: ASR, AST and spoken dialogue with the core
 * frozen): generated utterances of the synthetic world (`@herd/datasets` speech) turned into task
 * items, a prepared shard dataset of them (log-mel once, stored f16), the chat-format token layout
 * with the audio spliced in the user turn, and the batch collate for `trainAdapter`.
 *
 * Tasks, all in the Llama 3 chat format (loss on the assistant reply only):
 *   - `asr`: user = [audio] "Transcribe the audio." → the transcript (statements and questions);
 *   - `qa`: user = the scene in text, then the spoken question [audio] → the answer in text;
 *   - `ast`: user = [audio] (French / German / Spanish) "Translate the audio into English." → an
 *     English description of the same scene (the world gives these pairs through `meta.scene`).
 * [audio] = `<|audio_start|>` a₀ … a_{A−1} `<|audio_end|>`, the markers being the adapter's own rows.
 *
 * Legend: B batch, T tokens, F padded input frames, S = F/4, A adapter frames of one utterance.
 */
import { HerdError, Rng, decodeF16, encodeF16 } from '@herd/core';
import { type Sample, isUnreadable, iterateDataset, readDataset, writeDataset } from '@herd/data';
import { HELDOUT_VOICES, describeScene, itemRng } from '@herd/datasets';
import { type LanguageCore, type Llama3Tokenizer } from '@herd/llama3';
import { readWav, resample } from '@herd/media';
import { type HostTensor, hostTensor } from '@herd/runtime';
import { LogMel } from '../data/log-mel.js';
import { AUDIO_END, AUDIO_START, FRAME_MULTIPLE, KEEP_TOKEN, audioTokens } from '../model/extension.js';
import { type SpeechConfig } from '../config.js';

export const SPEECH_TASKS = ['asr', 'qa', 'ast'] as const;
export type SpeechTask = (typeof SPEECH_TASKS)[number];

export const ASR_INSTRUCTION = 'Transcribe the audio.';
export const AST_INSTRUCTION = 'Translate the audio into English.';

/** What the user turn holds around the audio, and the reply the model must give. */
export interface SpeechPrompt {
  /** Text before the audio in the user turn ('' for none). */
  readonly before: string;
  /** Text after the audio in the user turn ('' for none). */
  readonly after: string;
}

/** One training or evaluation item: an utterance's features and one task on it. */
export interface SpeechItem extends SpeechPrompt {
  readonly key: string;
  readonly task: SpeechTask;
  /** Log-mel [frames, nMels] row-major. */
  readonly features: Float32Array;
  readonly frames: number;
  /** What the audio says. */
  readonly transcript: string;
  /** The reply the model should give. */
  readonly target: string;
  readonly voice: string;
  readonly language: string;
  readonly split: 'train' | 'heldout';
  /** The utterance's speaker is never heard in training. */
  readonly heldoutVoice: boolean;
}

/** The task prompts of one utterance (statement → asr; question → asr + qa; translation → ast). */
export function tasksOf(meta: Record<string, unknown>, key: string): { task: SpeechTask; prompt: SpeechPrompt; target: string }[] {
  const spoken = String(meta['spoken'] ?? '');
  const asr = { task: 'asr' as const, prompt: { before: '', after: ASR_INSTRUCTION }, target: spoken };
  switch (meta['task']) {
    case 'statement':
      return [asr];
    case 'question':
      return [asr, { task: 'qa', prompt: { before: String(meta['context']), after: '' }, target: String(meta['answer']) }];
    case 'translation': {
      // One English rendering per utterance, seeded by its key: the world's describer, as the text corpus uses.
      const english = describeScene(itemRng(0, `speech/ast/${key}`, 0), meta['scene'] as Parameters<typeof describeScene>[1]);
      return [{ task: 'ast', prompt: { before: '', after: AST_INSTRUCTION }, target: english }];
    }
    default:
      return [];
  }
}

/**
 * Clean utterances of one generated speech dataset folder, or of several (generations of the world with
 * different seeds, read in order), as task items (log-mel computed here). Generations number their
 * utterances alike (`spc-00000000` …), so with several folders each item key is prefixed by its
 * folder's place (`g0-`, `g1-` …); the same generation given twice is refused.
 */
export async function* readSpeechItems(source: string | readonly string[], o: { split?: 'train' | 'heldout'; maxFrames?: number; tasks?: readonly SpeechTask[] } = {}): AsyncGenerator<SpeechItem> {
  const dirs = typeof source === 'string' ? [source] : [...source];
  if (dirs.length === 0) throw new HerdError('invalid_argument', 'speech data: no dataset folder given');
  await refuseRepeatedGenerations(dirs);
  const mel = new LogMel();
  const heldoutVoices = new Set<string>(HELDOUT_VOICES);
  for (const [g, dir] of dirs.entries()) {
    const prefix = dirs.length > 1 ? `g${g}-` : '';
    for await (const s of iterateDataset(dir)) {
      if (isUnreadable(s)) throw new HerdError('io_error', `${dir}: unreadable sample ${JSON.stringify(s)}`);
      const meta = s.meta as Record<string, unknown>;
      if (meta['noise'] !== null || !s.files['wav'] || typeof meta['spoken'] !== 'string') continue;
      const voice = String(meta['voice']);
      const heldoutVoice = heldoutVoices.has(voice);
      const split = meta['split'] === 'heldout' || heldoutVoice ? 'heldout' : 'train';
      if (o.split && split !== o.split) continue;
      const tasks = tasksOf(meta, s.key).filter((t) => !o.tasks || o.tasks.includes(t.task));
      if (tasks.length === 0) continue;
      const wav = readWav(s.files['wav'], `${dir}/${s.key}.wav`);
      const samples = wav.sampleRate === mel.config.sampleRate ? wav.samples : resample(wav.samples, wav.sampleRate, mel.config.sampleRate);
      const f = mel.compute(samples, `${dir}/${s.key}.wav`);
      if (o.maxFrames !== undefined && f.frames > o.maxFrames) continue;
      for (const t of tasks) {
        yield {
          key: `${prefix}${s.key}-${t.task}`, task: t.task, ...t.prompt, target: t.target, features: f.data, frames: f.frames, transcript: String(meta['spoken']),
          voice, language: String(meta['language']), split, heldoutVoice,
        };
      }
    }
  }
}

/** Two folders holding the same shards (by checksum) are one generation given twice: its utterances would count double. */
async function refuseRepeatedGenerations(dirs: readonly string[]): Promise<void> {
  if (dirs.length < 2) return;
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    for (const shard of (await readDataset(dir)).shards) {
      if (shard.sha256 === undefined) continue;
      const other = seen.get(shard.sha256);
      if (other !== undefined) throw new HerdError('invalid_argument', `speech data: ${dir}/${shard.file} is the same shard as one in ${other} (the same generation given twice?)`);
      seen.set(shard.sha256, dir);
    }
  }
}

/** An item as a shard sample: the features as f16 bytes (`mel`), the rest in meta. */
export function itemToSample(item: SpeechItem): Sample {
  const { features, ...meta } = item;
  return { key: item.key, files: { mel: new Uint8Array(encodeF16(features).buffer) }, meta: meta as unknown as Record<string, unknown> };
}

export function sampleToItem(s: Sample, nMels: number): SpeechItem {
  const bytes = s.files['mel'];
  if (!bytes) throw new HerdError('corrupt_data', `speech sample ${s.key}: no 'mel' file (prepare the set with prepareSpeechSet)`);
  const aligned = new Uint8Array(bytes); // copy: the shard buffer need not be 2-byte aligned
  const features = decodeF16(new Uint16Array(aligned.buffer, 0, aligned.byteLength / 2));
  const meta = s.meta as unknown as Omit<SpeechItem, 'features'>;
  if (features.length !== meta.frames * nMels) throw new HerdError('corrupt_data', `speech sample ${s.key}: mel holds ${features.length} values, meta says ${meta.frames} frames × ${nMels}`);
  return { ...meta, features };
}

/** How many times each task's items are written into a prepared set (a task left out: once): the task mixture. */
export type TaskRepeat = Readonly<Partial<Record<SpeechTask, number>>>;

/**
 * Writes the train items of a generated speech dataset as a shard dataset (shuffled by the reader).
 * `repeat` writes a task's items several times (copies keyed `…-r1`, `…-r2` …), raising its share of
 * the mixture; the set's info records it, so a reused set can be checked (`preparedTaskRepeat`).
 */
export async function prepareSpeechSet(source: string | readonly string[], out: string, o: { maxFrames: number; split?: 'train' | 'heldout'; keep?: (item: SpeechItem) => boolean; repeat?: TaskRepeat }): Promise<{ items: number; byTask: Record<string, number>; dropped: number }> {
  const byTask: Record<string, number> = {};
  let items = 0;
  let dropped = 0;
  const repeat = normalTaskRepeat(o.repeat);
  async function* samples() {
    for await (const item of readSpeechItems(source, { split: o.split ?? 'train', maxFrames: o.maxFrames })) {
      if (o.keep && !o.keep(item)) {
        dropped++;
        continue;
      }
      const copies = repeat[item.task] ?? 1;
      byTask[item.task] = (byTask[item.task] ?? 0) + copies;
      items += copies;
      yield itemToSample(item);
      for (let r = 1; r < copies; r++) yield itemToSample({ ...item, key: `${item.key}-r${r}` });
    }
  }
  await writeDataset(out, samples(), { samplesPerShard: 500, info: { source, maxFrames: o.maxFrames, split: o.split ?? 'train', repeat } });
  return { items, byTask, dropped };
}

/** The repeats that differ from once, checked: whole numbers ≥ 1 of known tasks. */
function normalTaskRepeat(repeat: TaskRepeat | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [task, n] of Object.entries(repeat ?? {})) {
    if (!(SPEECH_TASKS as readonly string[]).includes(task)) throw new HerdError('invalid_argument', `speech task repeat: unknown task '${task}' (tasks: ${SPEECH_TASKS.join(', ')})`);
    if (!Number.isInteger(n) || n! < 1) throw new HerdError('invalid_argument', `speech task repeat: ${task} must be a whole number ≥ 1, got ${n}`);
    if (n !== 1) out[task] = n!;
  }
  return out;
}

/** Refuses a prepared set (info of `prepareSpeechSet`) made with other repeats than `repeat` (a set made before repeats existed: none). */
export function checkPreparedTaskRepeat(dir: string, info: Readonly<Record<string, unknown>>, repeat: TaskRepeat | undefined): void {
  const want = normalTaskRepeat(repeat);
  const had = (info['repeat'] ?? {}) as Record<string, number>;
  const same = SPEECH_TASKS.every((t) => (want[t] ?? 1) === (had[t] ?? 1));
  if (!same) throw new HerdError('invalid_argument', `${dir} holds train items prepared with task repeats ${JSON.stringify(had)}, this run asks for ${JSON.stringify(want)}: use another work folder`);
}

/** The token layout of one prompt: compact ids and, per position, its `audioIndex` code (frame a of the utterance, or a marker / KEEP_TOKEN). */
export interface SpeechPromptLayout {
  readonly ids: number[];
  /** Per position: a ≥ 0 = the utterance's adapter frame a; AUDIO_START / AUDIO_END / KEEP_TOKEN. */
  readonly codes: number[];
}

function toCompact(core: Pick<LanguageCore, 'vocab'>, full: readonly number[]): number[] {
  return core.vocab ? Array.from(core.vocab.toCompact(full)) : [...full];
}

/**
 * The chat prompt (ending with the open assistant header) with the audio's A frames between the
 * markers inside the user turn, after `before` and before `after`.
 */
export function speechPromptLayout(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, p: SpeechPrompt, audioFrames: number): SpeechPromptLayout {
  // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n — the user turn's opening.
  const open = tok.encodeChat([{ role: 'user', content: '' }], { addGenerationPrompt: false }).slice(0, -1);
  const full: number[] = [...open];
  const codes: number[] = open.map(() => KEEP_TOKEN);
  const text = (s: string) => {
    const ids = tok.encodeOrdinary(s);
    full.push(...ids);
    codes.push(...ids.map(() => KEEP_TOKEN));
  };
  // No space before the audio: a lone " " is not in the pruned core vocabulary (it would be the unknown row).
  if (p.before.trim()) text(p.before.trim());
  full.push(0);
  codes.push(AUDIO_START);
  for (let a = 0; a < audioFrames; a++) {
    full.push(0);
    codes.push(a);
  }
  full.push(0);
  codes.push(AUDIO_END);
  if (p.after.trim()) text(` ${p.after.trim()}`);
  // <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
  const close = tok.encodeChat([{ role: 'user', content: '' }], { addGenerationPrompt: true, bos: false }).slice(open.length - 1);
  full.push(...close);
  codes.push(...close.map(() => KEEP_TOKEN));
  // Placeholders (full id 0) stay 0 in the compact vocabulary's place: their embedding is replaced.
  const ids = toCompact(core, full).map((t, i) => (codes[i] === KEEP_TOKEN ? t : 0));
  return { ids, codes };
}

/** A training sequence: prompt + reply + `<|eot_id|>`, loss on the reply (from `trainFrom`). */
export function speechSequence(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, item: SpeechItem, enc: SpeechConfig): SpeechPromptLayout & { trainFrom: number } {
  const prompt = speechPromptLayout(tok, core, item, audioTokens(enc, item.frames));
  const reply = tok.encodeChat([{ role: 'assistant', content: item.target }], { addGenerationPrompt: false, bos: false });
  // encodeChat puts the assistant header first; the prompt already ends with it.
  const header = tok.encodeChat([{ role: 'assistant', content: '' }], { addGenerationPrompt: false, bos: false }).length - 1;
  const replyIds = toCompact(core, reply.slice(header));
  return { ids: [...prompt.ids, ...replyIds], codes: [...prompt.codes, ...replyIds.map(() => KEEP_TOKEN)], trainFrom: prompt.ids.length };
}

/** Input frames padded to the graph's multiple. */
export function paddedFrames(frames: number): number {
  return Math.ceil(frames / FRAME_MULTIPLE) * FRAME_MULTIPLE;
}

/** The extension's feeds for B utterances padded to F frames (audioIndex is filled by the caller). */
export function featureFeeds(enc: SpeechConfig, items: readonly { features: Float32Array; frames: number }[], F: number): { features: HostTensor; featureValid: HostTensor } {
  const B = items.length;
  const S = F / enc.stack;
  const features = new Float32Array(B * F * enc.nMels);
  const valid = new Uint8Array(B * S);
  items.forEach((it, b) => {
    if (it.frames > F) throw new HerdError('invalid_argument', `speech batch: utterance ${b} has ${it.frames} frames, the graph takes at most ${F}`);
    features.set(it.features.subarray(0, it.frames * enc.nMels), b * F * enc.nMels);
    valid.fill(1, b * S, b * S + Math.ceil(it.frames / enc.stack));
  });
  return { features: hostTensor('f32', [B, F, enc.nMels], features), featureValid: hostTensor('bool', [B, S], valid) };
}

/** `audioIndex` rows for B layouts of one batch whose audio has A adapter frames per utterance. */
export function audioIndexOf(codes: readonly (readonly number[])[], A: number, T: number): Int32Array {
  const out = new Int32Array(codes.length * T).fill(KEEP_TOKEN);
  codes.forEach((row, b) => row.slice(0, T).forEach((c, t) => (out[b * T + t] = c >= 0 ? b * A + c : c)));
  return out;
}

export interface SpeechCollateOptions {
  readonly tok: Llama3Tokenizer;
  readonly core: Pick<LanguageCore, 'vocab'>;
  readonly encoder: SpeechConfig;
  /** Padded input frames F of the graph (a multiple of 8). */
  readonly frames: number;
  readonly seqLen: number;
  /** With the CTC alignment objective: also `ctcLabels` [B, maxLabels] and `ctcLabelLengths` [B] (`ctcLabelsOf`). */
  readonly ctcMaxLabels?: number;
}

/**
 * The CTC labels of an utterance: the core's compact ids of its transcript, as the core reads the
 * sentence in text. Undefined when the transcript holds a token the core does not know (e.g. a
 * French word the pruned vocabulary lacks: its unknown row is no target) or is longer than
 * `maxLabels` tokens; such an item trains without the alignment objective.
 */
export function ctcLabelsOf(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, transcript: string, maxLabels: number): number[] | undefined {
  const ids = toCompact(core, tok.encodeOrdinary(transcript.trim()));
  if (ids.length === 0 || ids.length > maxLabels) return undefined;
  if (core.vocab && ids.includes(core.vocab.unknown)) return undefined;
  return ids;
}

/** Items → one `trainAdapter` batch (tokens/targets/positions/docIds + the extension's inputs). */
export function collateSpeech(o: SpeechCollateOptions, items: readonly SpeechItem[]): Record<string, HostTensor> {
  const B = items.length;
  const T = o.seqLen;
  const A = audioTokens(o.encoder, o.frames);
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-100);
  const codes: number[][] = [];
  items.forEach((item, b) => {
    const seq = speechSequence(o.tok, o.core, item, o.encoder);
    if (seq.trainFrom + 1 >= T) throw new HerdError('invalid_argument', `speech batch: ${item.key} needs ${seq.ids.length} tokens (prompt ${seq.trainFrom}); the graph takes ${T} — raise seqLen or lower maxFrames`);
    const n = Math.min(T, seq.ids.length);
    tokens.set(seq.ids.slice(0, n), b * T);
    for (let i = seq.trainFrom - 1; i + 1 < n; i++) targets[b * T + i] = seq.ids[i + 1]!;
    codes.push(seq.codes);
  });
  return {
    tokens: hostTensor('i32', [B, T], tokens),
    targets: hostTensor('i32', [B, T], targets),
    positions: hostTensor('i32', [B, T], Int32Array.from({ length: B * T }, (_, i) => i % T)),
    docIds: hostTensor('i32', [B, T]),
    ...featureFeeds(o.encoder, items, o.frames),
    audioIndex: hostTensor('i32', [B, T], audioIndexOf(codes, A, T)),
    ...(o.ctcMaxLabels ? ctcFeeds(o, items, o.ctcMaxLabels) : {}),
  };
}

/** `ctcLabels` [B, L] (padded with 0) and `ctcLabelLengths` [B] (0: no alignment target for that item). */
function ctcFeeds(o: SpeechCollateOptions, items: readonly SpeechItem[], L: number): Record<string, HostTensor> {
  const labels = new Int32Array(items.length * L);
  const lengths = new Int32Array(items.length);
  items.forEach((item, b) => {
    const ids = ctcLabelsOf(o.tok, o.core, item.transcript, L);
    if (!ids) return;
    labels.set(ids, b * L);
    lengths[b] = ids.length;
  });
  return { ctcLabels: hostTensor('i32', [items.length, L], labels), ctcLabelLengths: hostTensor('i32', [items.length], lengths) };
}

/** A seeded subset (for fixed held-out batches and evals). */
export function pickItems<T>(items: readonly T[], n: number, seed: number): T[] {
  return new Rng(seed).shuffle([...items]).slice(0, n);
}
