/**
 * Where the mini speech path loses words: the encoder + adapter (CTC greedy transcripts of the
 * adapter's frames, no core), or the frozen core that has to repeat what the adapter gives it.
 * On held-out-voice ASR items of a speech checkpoint, four transcripts per utterance:
 *   adapter  — the core + speech adapter, greedy (what `herd speech eval` scores);
 *   ctc      — the encoder + adapter alone (CTC greedy);
 *   text     — the core alone given the reference transcript in text ("<transcript> Transcribe the
 *              audio.", the core's own transcribe instruction): how well this core repeats a sentence;
 *   ctc→core — the core alone given the CTC transcript in text the same way;
 *   joint    — the core + adapter decoding jointly with the CTC head (beam search at the defaults
 *              JOINT_CTC_BEAM / JOINT_CTC_WEIGHT: what `herd generate --audio` and the chat give);
 * and the teacher-forced loss of the reference reply per position, with the audio and with the text,
 * so a long transcript's loss can be read position by position. WER by transcript length.
 *
 *   node bench/dist/speech-core-limit.js --eval-data DIR [--speech DIR] [--n 80] [--seed 1]
 *
 * Prints tables and writes bench/results/speech-core-limit.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { END_OF_TEXT_ID, EOT_ID, Generator, buildDecoder, loadLlama3Tokenizer } from '@herd/llama3';
import { setDefaultThreads } from '@herd/runtime';
import {
  ASR_INSTRUCTION, JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, MINI_SPEECH_DIR, type SpeechItem, ctcGreedyText, ctcHeadOf, ctcPosteriors, jointTranscribe, loadMiniSpeech, miniSpeechGenerator, pickItems, readSpeechItems, speechPromptLayout, speechSequence,
  textLayout, wordErrorRate,
} from '@herd/speech';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'Where the mini speech path loses words: on held-out-voice ASR items, the adapter, CTC-greedy, text-only, CTC→core and joint transcripts, and the teacher-forced loss per position; WER by transcript length (ONNX threads: HERD_THREADS).',
  writes: 'bench/results/speech-core-limit.json',
  flags: {
    'eval-data': { value: 'DIR', required: true, help: 'a speech data folder whose held-out-voice ASR items are scored' },
    speech: { value: 'DIR', default: MINI_SPEECH_DIR, help: 'the speech checkpoint (it needs a CTC head)' },
    n: { value: 'N', default: '80', help: 'items scored' },
    seed: { value: 'N', default: '1', help: "the items' pick" },
  },
});
if (process.env['HERD_THREADS']) setDefaultThreads(Number(process.env['HERD_THREADS']));
const evalData = cli.flag('eval-data');
const speechDir = cli.flag('speech');
const n = cli.number('n');
const seed = cli.number('seed');

const s = loadMiniSpeech(speechDir);
const head = ctcHeadOf(s.weights);
if (!head) {
  console.error(`${speechDir}: no CTC head (group speechCtc) in this checkpoint; the ctc rows need it`);
  process.exit(1);
}
const tok = await loadLlama3Tokenizer();
const core = s.core;
const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
const sampling = { maxNewTokens: 48, temperature: 0, stopTokens: stops };
const text = (ids: readonly number[]) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();

const held: SpeechItem[] = [];
for await (const i of readSpeechItems(evalData, { split: 'heldout', maxFrames: s.maxFrames })) if (i.heldoutVoice && i.task === 'asr') held.push(i);
const items = pickItems(held, n, seed);

const gen = await miniSpeechGenerator(s);
const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights));
const ask = async (content: string) => text(await plain.complete(toModel(tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true })), sampling));

/** −log p of each target id from logits at the positions before it. */
function nll(logits: readonly Float32Array[], ids: readonly number[], from: number): number[] {
  const out: number[] = [];
  for (let p = from; p < ids.length; p++) {
    const l = logits[p - 1]!;
    let max = -Infinity;
    for (const v of l) max = Math.max(max, v);
    let sum = 0;
    for (const v of l) sum += Math.exp(v - max);
    out.push(-(l[ids[p]!]! - max - Math.log(sum)));
  }
  return out;
}

type Row = 'adapter' | 'ctc' | 'text' | 'ctcCore' | 'joint';
const rows: { reference: string; words: number; hyp: Record<Row, string>; nllAudio: number[]; nllText: number[] }[] = [];
const t0 = performance.now();
for (const item of items) {
  const layout = speechPromptLayout(tok, core, { before: '', after: ASR_INSTRUCTION }, gen.audioTokens(item));
  const adapter = text(await gen.complete(layout, item, sampling));
  const posteriors = await ctcPosteriors(gen, core, head, item);
  const ctc = ctcGreedyText(posteriors, core, tok);
  const joint = text((await jointTranscribe((o) => gen.beam(layout, item, o), posteriors, { weight: JOINT_CTC_WEIGHT, beam: JOINT_CTC_BEAM, maxNewTokens: sampling.maxNewTokens, stopTokens: stops })).tokens);
  const textOut = await ask(`${item.transcript} ${ASR_INSTRUCTION}`);
  const ctcCore = await ask(`${ctc} ${ASR_INSTRUCTION}`);
  // Teacher-forced: the same reply ids after the audio prompt and after the text prompt.
  const seq = speechSequence(tok, core, { ...item, before: '', after: ASR_INSTRUCTION, target: item.transcript }, s.model.encoder);
  const reply = seq.ids.slice(seq.trainFrom);
  const nllAudio = nll(await gen.logits(seq, item), seq.ids, seq.trainFrom);
  const textPrompt = toModel(tok.encodeChat([{ role: 'user', content: `${item.transcript} ${ASR_INSTRUCTION}` }], { addGenerationPrompt: true }));
  const textIds = [...textPrompt, ...reply];
  const nllText = nll(await gen.logits(textLayout(textIds), undefined), textIds, textPrompt.length);
  rows.push({ reference: item.transcript, words: item.transcript.split(/\s+/u).length, hyp: { adapter, ctc, text: textOut, ctcCore, joint }, nllAudio, nllText });
}
await gen.release();
await plain.release();
const seconds = (performance.now() - t0) / 1000;

const ROWS: readonly Row[] = ['adapter', 'ctc', 'text', 'ctcCore', 'joint'];
const LABEL: Record<Row, string> = { adapter: 'core + adapter', ctc: 'encoder + adapter alone (CTC greedy)', text: 'core given the transcript in text', ctcCore: 'core given the CTC transcript in text', joint: `core + adapter, joint CTC beam ${JOINT_CTC_BEAM}, weight ${JOINT_CTC_WEIGHT}` };
const buckets = [
  { name: '≤ 6 words', keep: (w: number) => w <= 6 },
  { name: '7–12 words', keep: (w: number) => w > 6 && w <= 12 },
  { name: '≥ 13 words', keep: (w: number) => w > 12 },
];
const wer = (sel: typeof rows, r: Row) => wordErrorRate(sel.map((x) => ({ reference: x.reference, hypothesis: x.hyp[r] })));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const bucketRows = buckets.map((b) => ({ ...b, sel: rows.filter((x) => b.keep(x.words)) }));
console.log(`WER on ${rows.length} held-out-voice utterances (${speechDir}), by transcript length\n`);
console.log(`| | all (n=${rows.length}) | ${bucketRows.map((b) => `${b.name} (n=${b.sel.length})`).join(' | ')} |`);
console.log(`|---|---|${bucketRows.map(() => '---').join('|')}|`);
const werTable: Record<string, Record<string, number>> = {};
for (const r of ROWS) {
  werTable[r] = Object.fromEntries([['all', wer(rows, r)], ...bucketRows.map((b) => [b.name, b.sel.length ? wer(b.sel, r) : NaN])]);
  console.log(`| ${LABEL[r]} | ${pct(werTable[r]!['all']!)} | ${bucketRows.map((b) => (b.sel.length ? pct(werTable[r]![b.name]!) : '—')).join(' | ')} |`);
}
const spans = [[0, 4], [5, 9], [10, 14], [15, 19], [20, 999]] as const;
const meanAt = (key: 'nllAudio' | 'nllText', lo: number, hi: number) => {
  const xs = rows.flatMap((x) => x[key].slice(lo, hi + 1));
  return { mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), count: xs.length };
};
console.log('\nTeacher-forced loss of the reference reply (nats per token) by reply position\n');
console.log(`| | ${spans.map(([a, b]) => (b > 100 ? `${a}+` : `${a}–${b}`)).join(' | ')} |`);
console.log(`|---|${spans.map(() => '---').join('|')}|`);
const lossTable: Record<string, { mean: number; count: number }[]> = {};
for (const [key, label] of [['nllAudio', 'audio through the adapter'], ['nllText', 'transcript in text']] as const) {
  lossTable[key] = spans.map(([a, b]) => meanAt(key, a, b));
  console.log(`| ${label} | ${lossTable[key]!.map((m) => `${m.mean.toFixed(3)} (${m.count})`).join(' | ')} |`);
}
console.log('\nExamples');
for (const x of rows.filter((r) => r.words > 12).slice(0, 4)) console.log(JSON.stringify({ reference: x.reference, ...x.hyp }));
console.log(`\n${seconds.toFixed(0)} s`);
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'speech-core-limit.json'), JSON.stringify({ speech: speechDir, joint: { beam: JOINT_CTC_BEAM, weight: JOINT_CTC_WEIGHT }, evalData, n: rows.length, seed, seconds, wer: werTable, loss: lossTable, rows }, null, 2));
