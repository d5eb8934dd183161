/**
 * The chat layout of speech prompts on the committed mini core: every text position is a token the
 * core knows (no unknown row of its pruned vocabulary), the audio frames sit between the two markers
 * inside the user turn, and the loss starts at the reply.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sample, iterateDataset, readDataset, writeDataset } from '@herd/data';
import { HELDOUT_VOICES } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { encodeWav } from '@herd/media';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSpeechConfig } from '../config.js';
import { AUDIO_END, AUDIO_START, KEEP_TOKEN, audioTokens } from '../model/extension.js';
import { ASR_INSTRUCTION, AST_INSTRUCTION, type SpeechItem, checkPreparedTaskRepeat, collateSpeech, ctcLabelsOf, prepareSpeechSet, readSpeechItems, sampleToItem, speechPromptLayout, speechSequence } from './speech-data.js';

const encoder = parseSpeechConfig({
  nMels: 80, stack: 4, dim: 16, nLayers: 1, nHeads: 2, ffnDim: 32, convKernel: 7, normEps: 1e-5, ropeTheta: 10000,
  bestRq: { codebooks: 1, codebookSize: 16, codeDim: 8, maskProb: 0.025, maskSpan: 8, noiseStd: 0.1 },
});

describe('speech prompt layout', () => {
  it('holds no unknown token around the audio (spoken QA and ASR prompts), markers around the frames, loss on the reply', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const unknown = core.vocab!.unknown;
    const scene = 'A medium black triangle near the top and a red hexagon in the centre.';
    for (const p of [{ before: scene, after: '' }, { before: '', after: ASR_INSTRUCTION }, { before: '', after: AST_INSTRUCTION }, { before: `${scene}  `, after: `  ${ASR_INSTRUCTION}` }]) {
      const l = speechPromptLayout(tok, core, p, 5);
      const text = l.ids.filter((_, i) => l.codes[i] === KEEP_TOKEN);
      expect(text.includes(unknown)).toBe(false);
      const start = l.codes.indexOf(AUDIO_START);
      expect(l.codes.slice(start, start + 7)).toEqual([AUDIO_START, 0, 1, 2, 3, 4, AUDIO_END]);
    }
    const item: SpeechItem = {
      key: 'k', task: 'qa', before: scene, after: '', features: new Float32Array(37 * 80), frames: 37, transcript: 'How many hexagons are there?', target: 'There is one hexagon.',
      voice: 'v', language: 'en', split: 'train', heldoutVoice: false,
    };
    const seq = speechSequence(tok, core, item, encoder);
    expect(seq.codes.filter((c) => c >= 0).length).toBe(audioTokens(encoder, 37));
    const batch = collateSpeech({ tok, core, encoder, frames: 40, seqLen: 64 }, [item]);
    const targets = Array.from(batch['targets']!.data as Int32Array).filter((t) => t !== -100);
    expect(tok.decode(Array.from(core.vocab!.toFull(targets)))).toBe('There is one hexagon.<|eot_id|>');
  });
});

describe('CTC labels', () => {
  it('are the core\'s compact ids of the transcript; unknown tokens or too many leave the item out of the objective', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const said = 'How many hexagons are there?';
    const ids = ctcLabelsOf(tok, core, said, 40)!;
    expect(tok.decode(Array.from(core.vocab!.toFull(ids)))).toBe(said);
    expect(ids.includes(core.vocab!.unknown)).toBe(false);
    expect(ctcLabelsOf(tok, core, said, ids.length - 1)).toBeUndefined();
    // A word the pruned vocabulary does not hold maps to the unknown row: no target.
    expect(core.vocab!.toCompact(tok.encodeOrdinary(' Zyzzyva'))).toContain(core.vocab!.unknown);
    expect(ctcLabelsOf(tok, core, 'Zyzzyva', 40)).toBeUndefined();
    const item = (transcript: string): SpeechItem => ({
      key: transcript, task: 'asr', before: '', after: ASR_INSTRUCTION, features: new Float32Array(37 * 80), frames: 37, transcript, target: transcript,
      voice: 'v', language: 'en', split: 'train', heldoutVoice: false,
    });
    const batch = collateSpeech({ tok, core, encoder, frames: 40, seqLen: 64, ctcMaxLabels: 12 }, [item(said), item('Zyzzyva')]);
    expect(Array.from(batch['ctcLabelLengths']!.data as Int32Array)).toEqual([ids.length, 0]);
    expect(Array.from(batch['ctcLabels']!.data as Int32Array).slice(0, ids.length)).toEqual(ids);
  });
});

describe('several generations as one training source', () => {
  const root = mkdtempSync(join(tmpdir(), 'herd-speech-gen-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // A generation as @herd/datasets numbers it (spc-00000000 …): a statement and a question by training
  // voices and a statement by a held-out voice; 0.3 s of a tone whose pitch tells the generations apart.
  const generation = async (name: string, hz: number) => {
    const wav = encodeWav(Int16Array.from({ length: 4800 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 16000))), 16000);
    const meta = (task: string, voice: string, extra: Record<string, unknown> = {}) => ({ modality: 'speech', task, language: 'en', voice, spoken: `Said in ${name}.`, split: 'train', noise: null, ...extra });
    const samples = [
      { key: 'spc-00000000', files: { wav }, meta: meta('statement', 'en-us+m1') },
      { key: 'spc-00000001', files: { wav }, meta: meta('question', 'en+f2', { context: 'A red star.', answer: 'red' }) },
      { key: 'spc-00000002', files: { wav }, meta: meta('statement', HELDOUT_VOICES[0]) },
    ];
    await writeDataset(join(root, name), (async function* () { yield* samples; })(), { samplesPerShard: 10, info: { seed: hz } });
    return join(root, name);
  };
  const collect = async (it: AsyncIterable<SpeechItem>) => {
    const out: SpeechItem[] = [];
    for await (const x of it) out.push(x);
    return out;
  };

  it('reads every folder in order with unique keys, keeps held-out voices out of the train split, and refuses one generation twice', async () => {
    const a = await generation('a', 300);
    const b = await generation('b', 900);
    expect((await collect(readSpeechItems(a, { split: 'train' }))).map((i) => i.key)).toEqual(['spc-00000000-asr', 'spc-00000001-asr', 'spc-00000001-qa']);
    const both = await collect(readSpeechItems([a, b], { split: 'train' }));
    expect(both.map((i) => i.key)).toEqual(['g0-spc-00000000-asr', 'g0-spc-00000001-asr', 'g0-spc-00000001-qa', 'g1-spc-00000000-asr', 'g1-spc-00000001-asr', 'g1-spc-00000001-qa']);
    expect(both.map((i) => i.transcript)).toEqual([...Array(3).fill('Said in a.'), ...Array(3).fill('Said in b.')]);
    expect(both.some((i) => i.heldoutVoice)).toBe(false);
    const held = await collect(readSpeechItems([a, b], { split: 'heldout' }));
    expect(held.map((i) => [i.key, i.heldoutVoice])).toEqual([['g0-spc-00000002-asr', true], ['g1-spc-00000002-asr', true]]);
    await expect(collect(readSpeechItems([a, b, a]))).rejects.toThrow(/a\/shard-000000\.tar is the same shard as one in .*a \(the same generation given twice\?\)/);
  });

  it('writes a task\'s items several times when asked (the task mixture), records it, and refuses a prepared set made for another mixture', async () => {
    const a = await generation('mix', 500);
    const once = join(root, 'prepared-once');
    const thrice = join(root, 'prepared-thrice');
    expect(await prepareSpeechSet(a, once, { maxFrames: 600 })).toEqual({ items: 3, byTask: { asr: 2, qa: 1 }, dropped: 0 });
    expect(await prepareSpeechSet(a, thrice, { maxFrames: 600, repeat: { qa: 3, asr: 1 } })).toEqual({ items: 5, byTask: { asr: 2, qa: 3 }, dropped: 0 });
    const items: SpeechItem[] = [];
    for await (const s of iterateDataset(thrice)) items.push(sampleToItem(s as Sample, 80));
    expect(items.map((i) => i.key)).toEqual(['spc-00000000-asr', 'spc-00000001-asr', 'spc-00000001-qa', 'spc-00000001-qa-r1', 'spc-00000001-qa-r2']);
    // The copies are the item itself: same features, prompt and reply.
    const qa = items.filter((i) => i.task === 'qa');
    for (const c of qa.slice(1)) expect({ ...c, key: '' }).toEqual({ ...qa[0]!, key: '' });
    const onceInfo = (await readDataset(once)).info;
    const thriceInfo = (await readDataset(thrice)).info;
    expect(thriceInfo['repeat']).toEqual({ qa: 3 });
    checkPreparedTaskRepeat(thrice, thriceInfo, { qa: 3 });
    checkPreparedTaskRepeat(once, onceInfo, { qa: 1 });
    checkPreparedTaskRepeat(once, onceInfo, undefined);
    checkPreparedTaskRepeat(once, {}, undefined); // a set prepared before repeats existed: each task once
    expect(() => checkPreparedTaskRepeat(once, onceInfo, { qa: 3 })).toThrow(/prepared-once holds train items prepared with task repeats \{\}, this run asks for \{"qa":3\}: use another work folder/);
    expect(() => checkPreparedTaskRepeat(thrice, thriceInfo, { qa: 2 })).toThrow(/repeats \{"qa":3\}, this run asks for \{"qa":2\}/);
    expect(() => checkPreparedTaskRepeat(thrice, thriceInfo, undefined)).toThrow(/repeats \{"qa":3\}, this run asks for \{\}/);
    await expect(prepareSpeechSet(a, join(root, 'bad'), { maxFrames: 600, repeat: { qa: 0 } })).rejects.toThrow(/qa must be a whole number ≥ 1, got 0/);
    await expect(prepareSpeechSet(a, join(root, 'bad2'), { maxFrames: 600, repeat: { dialogue: 2 } as never })).rejects.toThrow(/unknown task 'dialogue'/);
  });
});
