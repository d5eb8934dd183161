/**
 * The mini recipe's training wiring: stages run through llama3's shared `trainAdapter` (in-memory
 * batches, groups `vision.encoder` + `vision.adapter`) against the committed frozen mini core.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, UsageError, parseCommandLine } from '@herd/core';
import { writeDataset } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { Generator, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { describe, expect, it } from 'vitest';
import { tileImage } from '../data/tiling.js';
import { crossLayerPrefix } from '../model/cross-attention.js';
import { type VisionWeights } from '../model/graphs.js';
import { PLACE_COL, PLACE_ROW, adapterParamSpecs, encoderParamSpecs } from '../model/params.js';
import { type SceneExample, MINI_CROSS_BEFORE, MINI_PLACE_INIT, freshPlaceTables, parsePlaceEmbeddings, parsePlaceInit, PLACE_EMBEDDINGS_FLAG, PLACE_INIT_FLAG, checkPlaceInitGiven, crossLayersBefore, freshMiniVision, keyWordQuestionDrawer, showsFact, statedCount, ANSWER_FORM_TYPES, ANSWER_FORM_WORDS, POSITION_FORM_WORDS, answerFormIds, imageQuestionIds, keyWordTargets, parseAnswerForm, parseKeyWordWeights, KEY_WORD_WEIGHTS_FLAG, keyTokenIds, miniVisionConfig, parseCrossBefore, qaSequence, questionKeyIds, readSceneExamples, trainMiniVision, COLOUR_WORDS, recolourKeyWordSample, toAdapterSample } from './mini.js';
import { inkPixels } from '../data/ink.js';
import { coreAttachPoints } from '../config.js';
import { blindImage } from '../eval/vqa.js';
import { loadMiniVision, saveMiniVision } from '../mini.js';
import { VisionGenerator } from '../model/generate.js';

const RGB: Record<string, [number, number, number]> = { red: [220, 30, 30], blue: [30, 80, 220] };

function scene(i: number, colour: 'red' | 'blue', objects: number, m: ReturnType<typeof miniVisionConfig>): SceneExample {
  // A white canvas with a coloured square in the centre cell (so the dense stage has ink to label).
  const data = new Uint8Array(56 * 56 * 3).map((_, j) => { const [x, y] = [Math.floor(j / 3) % 56, Math.floor(j / 168)]; return x >= 20 && x < 36 && y >= 20 && y < 36 ? RGB[colour]![j % 3]! : 255; });
  const qa = Array.from({ length: objects }, () => ({ type: 'colour', question: 'What colour is the circle?', answer: `The circle is ${colour}.` }));
  const spec = { objects: [{ shape: 'square', colour, size: 'big', position: 'centre', count: objects }], background: 'white', word: null };
  return { key: `s${i}`, split: 'train', image: tileImage({ data, width: 56, height: 56 }, m.vision), caption: `A ${colour} circle.`, qa, scene: spec };
}

/** Whether a tensor moved by a gradient in training (not by AdamW's decay alone, which scales it by one factor). */
function movedByGradient(before: Readonly<Record<string, { data: unknown }>>, after: Readonly<Record<string, { data: unknown }>>, name: string): boolean {
  const [a, b] = [before[name]!.data as Float32Array, after[name]!.data as Float32Array];
  const ratios = Array.from(a).flatMap((x, i) => (Math.abs(x) > 1e-3 ? [b[i]! / x] : []));
  return Math.max(...ratios) - Math.min(...ratios) > 1e-5;
}

/** The last position's logits of `prompt` with the image and with its blind control (zeroed pixels): equal when the image does not reach them. */
async function seenAndBlind(gen: VisionGenerator, prompt: number[], image: SceneExample['image']): Promise<[number[], number[]]> {
  return [Array.from((await gen.logits(prompt, [image])).at(-1)!), Array.from((await gen.logits(prompt, [blindImage(image)])).at(-1)!)];
}

describe('trainMiniVision', () => {
  it("a word question's key word is the scene's written word (without it its key-word sequence had no target)", async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const keys = keyTokenIds(tok, core);
    const seq = qaSequence(tok, core, m, 'Which word can you read?', 'The word is rain.');
    const reply = seq.tokens.slice(seq.trainFrom);
    expect(reply.filter((t) => keys.has(t))).toEqual([]);
    const hit = reply.filter((t) => questionKeyIds(tok, core, keys, 'word', 'rain').has(t));
    expect(hit.length).toBeGreaterThan(0);
    expect(tok.decode(core.vocab ? Array.from(core.vocab.toFull(hit)) : hit).trim()).toBe('rain');
    // Other types, and word questions about scenes without a word ("no" is a key word already), keep the shared set.
    expect(questionKeyIds(tok, core, keys, 'colour', 'rain')).toBe(keys);
    expect(questionKeyIds(tok, core, keys, 'word', undefined)).toBe(keys);
  });

  it('keyWordRecolour: the objects\' ink is repainted and the reply\'s colour words leave the targets; shape, size and the rest stay', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const s = scene(0, 'red', 1, m);
    const seq = qaSequence(tok, core, m, 'What is in the centre?', 'In the middle there is a big red square.');
    const asked = new Set(seq.tokens.slice(0, seq.trainFrom));
    const z = toAdapterSample(s.image, seq, 48);
    const keyed = { ...z, targets: keyWordTargets(z.targets, keyTokenIds(tok, core), asked) };
    const words = (targets: readonly number[]) => targets.filter((t) => t !== -100).map((t) => tok.decode(Array.from(core.vocab!.toFull([t]))).trim());
    expect(words(keyed.targets)).toEqual(['middle', 'big', 'red', 'square']);
    const out = recolourKeyWordSample(keyed, s.scene!, m.vision, keyTokenIds(tok, core, COLOUR_WORDS), new Rng(3));
    expect(words(out.targets)).toEqual(['middle', 'big', 'square']);
    expect(out.tokens).toEqual(keyed.tokens);
    // Every ink pixel (the square) takes one new colour; every other pixel is as it was.
    const ink = inkPixels(s.image, m.vision);
    const S = m.vision.tileSize, SS = S * S, W = s.image.resized.width;
    const at = (px: Float32Array, x: number, y: number) => [0, 1, 2].map((ch) => px[(Math.floor(y / S) * s.image.canvas.cols + Math.floor(x / S)) * 3 * SS + ch * SS + (y % S) * S + (x % S)]!);
    const inkColours = new Set<string>();
    let changed = 0;
    for (let y = 0; y < s.image.resized.height; y++) for (let x = 0; x < W; x++) {
      const [before, after] = [at(s.image.pixels, x, y), at(out.image.pixels, x, y)];
      if (!ink[y * W + x]) { expect(after).toEqual(before); continue; }
      inkColours.add(after.map((c) => c.toFixed(5)).join(','));
      if (after.some((c, ch) => c !== before[ch])) changed++;
    }
    expect(inkColours.size).toBe(1);
    expect(changed).toBeGreaterThan(0);
    // Without key words to train (keyWordShare 0) the option is refused, as is a share outside 0–1.
    await expect(trainMiniVision({ core, tokenizer: tok, scenes: [s], captionSteps: 0, qaSteps: 1, keyWordRecolour: 0.5 })).rejects.toThrow(/keyWordRecolour recolours key-word sequences: set keyWordShare above 0 too/);
    await expect(trainMiniVision({ core, tokenizer: tok, scenes: [s], captionSteps: 0, qaSteps: 1, keyWordShare: 0.5, keyWordRecolour: 1.5 })).rejects.toThrow(/keyWordRecolour must be a share from 0 to 1, got 1.5/);
  });

  it("answerForm: a position question's key words take the preposition, a count question's the verb, even where the question holds it", async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const keys = keyTokenIds(tok, core);
    const forms = answerFormIds(tok, core, ['position', 'count']);
    const words = (question: string, answer: string, form?: ReadonlySet<number>) => {
      const seq = qaSequence(tok, core, m, question, answer);
      const asked = new Set(seq.tokens.slice(0, seq.trainFrom)); // as the key-word sequences: words the question names are not targets
      const targets = seq.tokens.map((t, i) => (i >= seq.trainFrom ? t : -100));
      return keyWordTargets(targets, keys, asked, form).filter((t) => t !== -100).map((t) => tok.decode(Array.from(core.vocab!.toFull([t]))).trim());
    };
    const where = 'Where is the red square?';
    expect(words(where, 'The square is on the left side.')).toEqual(['left']);
    expect(words(where, 'The square is on the left side.', forms.get('position'))).toEqual(['on', 'left']);
    expect(words(where, 'Near the bottom.', forms.get('position'))).toEqual(['Near', 'bottom']);
    expect(words(where, 'In the middle.', forms.get('position'))).toEqual(['In', 'middle']);
    // POSITION_FORM_WORDS (round 21's name) is the table's position row.
    expect(POSITION_FORM_WORDS).toEqual(ANSWER_FORM_WORDS.position);
    expect(forms.get('position')).toEqual(keyTokenIds(tok, core, POSITION_FORM_WORDS));
    // Count: "are" is in the question, and a target all the same; without the form only the number and the shape are.
    const howMany = 'How many triangles are there?';
    expect(words(howMany, 'There are no triangles.')).toEqual(['no']);
    expect(words(howMany, 'There are no triangles.', forms.get('count'))).toEqual(['are', 'no']);
    expect(words(howMany, 'There is one triangle.', forms.get('count'))).toEqual(['is', 'one', 'triangle']);
    expect(words(howMany, 'Two.', forms.get('count'))).toEqual(['Two']);
    // A type's form words are its own: count's verb is no target of a position reply.
    expect(words(where, 'The square is on the left side.', forms.get('count'))).toEqual(['is', 'left']);
    expect(answerFormIds(tok, core, []).size).toBe(0);
    expect(() => answerFormIds(tok, core, ['colour'])).toThrow(/answerForm: "colour" is not a question type with answer-form words \(position, count\)/);
  });

  it('parseAnswerForm: the types in the table order, each once; an unknown or empty list fails naming it', () => {
    expect(ANSWER_FORM_TYPES).toEqual(['position', 'count']);
    expect(parseAnswerForm('count,position')).toEqual(['position', 'count']);
    expect(parseAnswerForm(' count , count ')).toEqual(['count']);
    expect(() => parseAnswerForm('position,shape')).toThrow(/--answer-form "position,shape": expected comma-separated question types with answer-form words, of position, count \(not "shape"\)/);
    expect(() => parseAnswerForm(',')).toThrow(/--answer-form ",": expected comma-separated question types/);
  });

  it('runs caption, single-object and QA stages through trainAdapter; only encoder + adapter train; gates start at gateInit', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const fresh = freshMiniVision(m, 1, 0.25);
    const gate = `${crossLayerPrefix(m.crossAttentionLayers[0]!)}.cross_attn_attn_gate`;
    expect(Array.from(fresh[gate]!.data as Float32Array)).toEqual([0.25]);
    // Two-object scenes are never drawn by the single-object stage; the QA stage draws from all.
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m), scene(2, 'red', 2, m)];
    const lines: string[] = [];
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, captionSteps: 1, singleSteps: 2, qaSteps: 1, batch: 2, seqLen: 32, lr: 1e-3, gateInit: 0.25, log: (l) => lines.push(l) });
    expect([r.losses.caption.length, r.losses['qa-single'].length, r.losses.qa.length]).toEqual([1, 2, 1]);
    expect([...r.losses.caption, ...r.losses['qa-single'], ...r.losses.qa].every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(Object.keys(r.weights).sort()).toEqual([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name).sort());
    // Four AdamW steps at lr ≤ 1e-3 move a gate by at most ~4e-3 from where it started.
    expect(Math.abs((r.weights[gate]!.data as Float32Array)[0]! - 0.25)).toBeLessThan(0.01);
    expect((r.weights[gate]!.data as Float32Array)[0]).not.toBe(0.25);
    expect(lines.some((l) => l.startsWith('qa-single: 2 steps'))).toBe(true);
  }, 180_000);

  it('select: only the last stage is scored (every N steps and at its end), on the whole vision model; it ends with the best step\'s values', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m), scene(2, 'red', 2, m)];
    // A fake scorer that prefers step 2 of 5 (scored at 2, 4 and the last step, 5); it records what it was shown.
    const shown = new Map<number, Record<string, Float32Array>>();
    const score = async (w: VisionWeights, step: number) => {
      shown.set(step, Object.fromEntries(Object.entries(w).map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)])));
      return step === 2 ? 1 : 0;
    };
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, captionSteps: 0, singleSteps: 2, qaSteps: 5, batch: 2, seqLen: 32, lr: 1e-3, freezeEncoder: true, trainProjector: true, select: { every: 2, score } });
    expect([...shown.keys()]).toEqual([2, 4, 5]); // the single-object stage ran first and was not scored
    expect(r.selected).toMatchObject({ step: 2, score: 1 });
    const all = [...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name).sort();
    expect(Object.keys(shown.get(2)!).sort()).toEqual(all); // the frozen encoder is in what the scorer grades
    for (const k of all) expect(Float32Array.from(r.weights[k]!.data as Float32Array)).toEqual(shown.get(2)![k]);
    const gate = `${crossLayerPrefix(m.crossAttentionLayers[0]!)}.cross_attn_attn_gate`;
    expect(shown.get(5)![gate]).not.toEqual(shown.get(2)![gate]); // it trained on past the kept step
  }, 180_000);

  it('stage 0 pre-trains the encoder contrastively (CLIP) on the training captions before the adapter stages', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m), scene(2, 'red', 2, m)];
    const lines: string[] = [];
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, clipSteps: 2, clipBatch: 2, clipLr: 1e-3, captionSteps: 0, qaSteps: 1, batch: 2, seqLen: 32, lr: 1e-3, log: (l) => lines.push(l) });
    expect(r.losses.clip.length).toBe(2);
    expect(r.losses.clip.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(lines.some((l) => l.startsWith('clip: 2 steps'))).toBe(true);
    expect(r.losses.qa.length).toBe(1);
  }, 180_000);

  it('stage 0 the mini herd\'s way: dense pre-training on the scene specs; freezeEncoder keeps that encoder through the adapter stages; qkGain starts the q/k norms', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m), scene(2, 'red', 2, m)];
    const base = { core, tokenizer: tok, scenes, denseSteps: 2, denseBatch: 2, denseLr: 1e-3, denseObjectWeight: 1, captionSteps: 0, batch: 2, seqLen: 32, lr: 1e-3, qkGain: 2 };
    const lines: string[] = [];
    const denseOnly = await trainMiniVision({ ...base, qaSteps: 0 });
    const frozen = await trainMiniVision({ ...base, qaSteps: 2, freezeEncoder: true, log: (l) => lines.push(l) });
    expect(frozen.losses.dense.length).toBe(2);
    expect(frozen.losses.dense.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(lines.some((l) => l.startsWith('dense: 2 steps'))).toBe(true);
    const fresh = freshMiniVision(m, 1, 0.5);
    for (const spec of encoderParamSpecs(m.vision)) {
      // The dense stage moved the encoder; the frozen adapter stage did not.
      expect(Array.from(frozen.weights[spec.name]!.data as Float32Array)).toEqual(Array.from(denseOnly.weights[spec.name]!.data as Float32Array));
    }
    expect(Array.from(denseOnly.weights['vision_model.patch_embedding.weight']!.data as Float32Array)).not.toEqual(Array.from(fresh['vision_model.patch_embedding.weight']!.data as Float32Array));
    const qNorm = `${crossLayerPrefix(m.crossAttentionLayers[0]!)}.cross_attn.q_norm.weight`;
    expect((denseOnly.weights[qNorm]!.data as Float32Array)[0]).toBe(2);
    const moved = (frozen.weights[qNorm]!.data as Float32Array)[0]!;
    expect(moved).not.toBe(2);
    expect(Math.abs(moved - 2)).toBeLessThan(0.01);
    // The frozen run kept the projector at its fresh init; with trainProjector it trains (the ViT still frozen),
    // and a curriculum of two key-word phases runs the QA stage as two calls (2 + 1 steps).
    const proj = 'multi_modal_projector.weight';
    expect(Array.from(frozen.weights[proj]!.data as Float32Array)).toEqual(Array.from(denseOnly.weights[proj]!.data as Float32Array));
    const phaseLines: string[] = [];
    const withProj = await trainMiniVision({ ...base, qaSteps: 3, freezeEncoder: true, trainProjector: true, keyWordShare: 1, keyWordTypes: [['colour'], ['colour']], log: (l) => phaseLines.push(l) });
    expect(Array.from(withProj.weights[proj]!.data as Float32Array)).not.toEqual(Array.from(denseOnly.weights[proj]!.data as Float32Array));
    for (const spec of encoderParamSpecs(m.vision)) expect(Array.from(withProj.weights[spec.name]!.data as Float32Array)).toEqual(Array.from(denseOnly.weights[spec.name]!.data as Float32Array));
    expect(withProj.losses.qa.length).toBe(3);
    expect(phaseLines.filter((l) => /^qa \(colour\): [12] steps/.test(l))).toHaveLength(2);
    // trainProjectorFromPhase 2: in phase 1 the projector keeps its fresh init while the adapter trains (one step, all in
    // phase 1: phase 2 gets none); with two steps phase 2 trains it.
    const gate = `${crossLayerPrefix(m.crossAttentionLayers[0]!)}.cross_attn_attn_gate`;
    const delayed = { ...base, freezeEncoder: true, trainProjector: true, trainProjectorFromPhase: 2, keyWordShare: 1, keyWordTypes: [['colour'], ['colour']] };
    const delayedLines: string[] = [];
    const phase1 = await trainMiniVision({ ...delayed, qaSteps: 1, log: (l) => delayedLines.push(l) });
    expect(Array.from(phase1.weights[proj]!.data as Float32Array)).toEqual(Array.from(denseOnly.weights[proj]!.data as Float32Array));
    expect(Array.from(phase1.weights[gate]!.data as Float32Array)).not.toEqual(Array.from(denseOnly.weights[gate]!.data as Float32Array));
    expect(delayedLines.some((l) => l.startsWith('qa (colour) [projector frozen]: 1 steps'))).toBe(true);
    const phase2 = await trainMiniVision({ ...delayed, qaSteps: 2 });
    expect(Array.from(phase2.weights[proj]!.data as Float32Array)).not.toEqual(Array.from(denseOnly.weights[proj]!.data as Float32Array));
    await expect(trainMiniVision({ ...delayed, qaSteps: 1, trainProjectorFromPhase: 3 })).rejects.toThrow(/trainProjectorFromPhase must be a QA phase, an integer from 1 to 2 \(the keyWordTypes phases\), got 3/);
    await expect(trainMiniVision({ ...delayed, qaSteps: 1, trainProjector: false })).rejects.toThrow(/trainProjectorFromPhase delays the projector of a frozen encoder: set freezeEncoder and trainProjector too/);
    // trainEncoderGlobal: the global layer(s) train with the projector and adapter, every layer before them stays as the dense stage left it.
    const withGlobal = await trainMiniVision({ ...base, qaSteps: 2, freezeEncoder: true, trainProjector: true, trainEncoderGlobal: true });
    const globalNames = encoderParamSpecs(m.vision).map((s) => s.name).filter((n) => n.includes('.global_transformer.'));
    expect(globalNames.length).toBeGreaterThan(0);
    const changed = (n: string) => Array.from(withGlobal.weights[n]!.data as Float32Array).some((x, i) => x !== (denseOnly.weights[n]!.data as Float32Array)[i]);
    expect(globalNames.filter(changed).length).toBeGreaterThan(0);
    expect(encoderParamSpecs(m.vision).map((s) => s.name).filter((n) => !globalNames.includes(n) && changed(n))).toEqual([]);
    await expect(trainMiniVision({ ...base, qaSteps: 1, trainEncoderGlobal: true })).rejects.toThrow(/trainEncoderGlobal trains the global layers of a frozen encoder: set freezeEncoder too/);
    // Scenes without a spec cannot be densely labelled: an error naming the field.
    await expect(trainMiniVision({ ...base, qaSteps: 0, scenes: scenes.map(({ scene: _s, ...rest }) => rest) })).rejects.toThrow(/SceneExample\.scene/);
    // A key-word type no training scene asks about is refused, naming it and the types there are.
    await expect(trainMiniVision({ ...base, qaSteps: 2, keyWordShare: 1, keyWordTypes: [['colour'], ['colour', 'banana']] })).rejects.toThrow(/keyWordTypes 'banana' is not a QA type of the training scenes \(they have: colour\)/);
  }, 180_000);
});

describe('keyWordQuestionDrawer (which question a key-word sequence asks)', () => {
  // Eight scenes, two with a written word: each scene has colour, two count and one word question ("no word" on six).
  const m = miniVisionConfig(loadLanguageCore().config);
  const pool: SceneExample[] = Array.from({ length: 8 }, (_, i) => ({
    ...scene(i, 'red', 1, m),
    qa: [
      { type: 'colour', question: 'What colour is the square?', answer: 'The square is red.' },
      { type: 'count', question: 'How many squares are there?', answer: 'One.' },
      { type: 'count', question: 'How many stars are there?', answer: 'There are no stars.' },
      i % 4 === 0 ? { type: 'word', question: 'What word is written?', answer: 'The word is cat.' } : { type: 'word', question: 'Is there any text?', answer: 'There is no word in the picture.' },
    ],
  }));
  const tally = (draw: 'question' | 'type', types: readonly string[] | undefined, weights?: Readonly<Record<string, number>>) => {
    const pick = keyWordQuestionDrawer(draw, ['colour', 'count', 'word'], weights);
    const rng = new Rng(5);
    const n: Record<string, number> = { colour: 0, count: 0, word: 0, read: 0, moved: 0 };
    for (let k = 0; k < 3000; k++) {
      const s = rng.pick(pool);
      const { scene: got, q } = pick(s, rng, types, pool);
      expect(got.qa).toContain(q);
      n[q.type]!++;
      if (q.type === 'word' && showsFact(q)) n['read']!++;
      if (got !== s) n['moved']!++;
    }
    return n;
  };

  it("'question' keeps the drawn scene: a type comes as often as scenes carry it (the word is read in 1 of 16)", () => {
    const n = tally('question', undefined);
    expect(n['moved']).toBe(0);
    expect(n['count']! / 3000).toBeCloseTo(0.5, 1);
    expect(n['read']! / 3000).toBeCloseTo(1 / 16, 1);
  });

  it("'type' gives each type the same share and asks only visible facts, re-drawing the scene for a word", () => {
    const n = tally('type', ['colour', 'count', 'word']);
    for (const t of ['colour', 'count', 'word']) expect(Math.abs(n[t]! / 3000 - 1 / 3)).toBeLessThan(0.04);
    expect(n['read']).toBe(n['word']); // never "There is no word in the picture."
    expect(n['moved']! / 3000).toBeCloseTo((1 / 3) * (6 / 8), 1); // word drawn on a scene without one
    expect(tally('type', undefined)).toEqual(n); // no list: every type of the training scenes
    const colourOnly = tally('type', ['colour']);
    expect([colourOnly['colour'], colourOnly['moved']]).toEqual([3000, 0]);
    expect(() => keyWordQuestionDrawer('random' as 'type', [])).toThrow(/keyWordDraw must be one of question, type, got "random"/);
    expect(() => keyWordQuestionDrawer('type', ['word'])(pool[1]!, new Rng(1), ['size'], pool)).toThrow(/no scene of the stage has a question of the types size that states a visible fact/);
  });

  it("'type' with weights: each type's share follows its weight (1 when not named, 0 leaves it out)", () => {
    const n = tally('type', ['colour', 'count', 'word'], { count: 3, word: 0.5 });
    const total = 1 + 3 + 0.5;
    for (const [t, w] of [['colour', 1], ['count', 3], ['word', 0.5]] as const) expect(Math.abs(n[t]! / 3000 - w / total)).toBeLessThan(0.03);
    expect(n['read']).toBe(n['word']);
    const noWord = tally('type', ['colour', 'count', 'word'], { word: 0 });
    expect(noWord['word']).toBe(0);
    expect(Math.abs(noWord['colour']! / 3000 - 0.5)).toBeLessThan(0.04);
    expect(() => keyWordQuestionDrawer('question', ['colour'], { colour: 2 })).toThrow(/keyWordWeights weigh the types of keyWordDraw 'type'; set it too/);
    expect(() => keyWordQuestionDrawer('type', ['colour'], { colour: -1 })).toThrow(/keyWordWeights must be numbers ≥ 0, got colour=-1/);
    expect(() => keyWordQuestionDrawer('type', ['colour'], { colour: 0 })(pool[0]!, new Rng(1), undefined, pool)).toThrow(/no scene of the stage has a question of the types colour that states a visible fact \(and a weight above 0\)/);
    // The oracle's reader and herd vision train's flag are one rule: whole numbers 0–20 of the scene QA types.
    expect(parseKeyWordWeights('count=3,word=0')).toEqual({ count: 3, word: 0 });
    const allowed = 'TYPE=N,… with TYPE one of colour, shape, count, position, word, exists, size, total and N an integer ≥ 0 and ≤ 20';
    expect(() => parseKeyWordWeights('count=3,speed=1')).toThrow(`--key-word-weights: 'speed=1' is not ${allowed}`);
    expect(() => parseKeyWordWeights('word=0.5')).toThrow(`--key-word-weights: 'word=0.5' is not ${allowed}`);
    expect(() => parseKeyWordWeights('word=21')).toThrow(/'word=21' is not TYPE=N/);
    expect(() => parseKeyWordWeights('word=1,word=2')).toThrow('--key-word-weights: word is given more than once');
    expect(() => parseCommandLine(['--key-word-weights', 'word=0.5'], { 'key-word-weights': KEY_WORD_WEIGHTS_FLAG })).toThrow(`--key-word-weights: 'word=0.5' is not ${allowed}`);
  });

  it('countBalance: a count question asks each stated number equally often (the pool states 8 zero, 6 one, 1 two, 1 three), count keeps its share; off: the scene drawn is kept', () => {
    // Scene i: "There are no stars." and "One." (i < 6), "There are two circles." (i = 6) or "Three." (i = 7).
    const counted: SceneExample[] = pool.map((s, i) => ({
      ...s,
      qa: [s.qa[0]!, { type: 'count', question: 'How many stars are there?', answer: 'There are no stars.' }, { type: 'count', question: 'How many circles are there?', answer: i < 6 ? 'One.' : i === 6 ? 'There are two circles.' : 'Three.' }],
    }));
    const run = (draw: 'question' | 'type', balance: boolean) => {
      const pick = balance ? keyWordQuestionDrawer(draw, ['colour', 'count'], undefined, true) : keyWordQuestionDrawer(draw, ['colour', 'count']);
      const rng = new Rng(9);
      const said: Record<string, number> = {};
      const drawn: string[] = [];
      for (let k = 0; k < 4000; k++) {
        const { scene: got, q } = pick(rng.pick(counted), rng, ['colour', 'count'], counted);
        expect(got.qa).toContain(q);
        drawn.push(`${got.key}:${q.answer}`);
        const key = q.type === 'count' ? String(statedCount(q.answer)) : q.type;
        said[key] = (said[key] ?? 0) + 1;
      }
      return { said, drawn };
    };
    for (const draw of ['question', 'type'] as const) {
      const on = run(draw, true).said;
      const off = run(draw, false).said;
      const countOn = ['0', '1', '2', '3'].reduce((a, k) => a + (on[k] ?? 0), 0);
      const countOff = ['0', '1', '2', '3'].reduce((a, k) => a + (off[k] ?? 0), 0);
      expect(Math.abs(countOn - countOff) / 4000).toBeLessThan(0.03); // count's share of the draw is kept
      for (const k of ['0', '1', '2', '3']) expect(Math.abs(on[k]! / countOn - 1 / 4)).toBeLessThan(0.04);
      expect(off['3']! / countOff).toBeLessThan(0.1); // as the scenes carry them: three is 1 in 16
      expect(off['0']! / countOff).toBeGreaterThan(0.4);
    }
    // 'question' off keeps the drawn scene and picks among its own questions (as before); on, a count question may move it.
    const moved = (balance: boolean) => {
      const pick = keyWordQuestionDrawer('question', ['colour', 'count'], undefined, balance);
      const rng = new Rng(3);
      let n = 0;
      for (let k = 0; k < 2000; k++) { const s = rng.pick(counted); if (pick(s, rng, ['colour', 'count'], counted).scene !== s) n++; }
      return n;
    };
    expect(moved(false)).toBe(0);
    expect(moved(true)).toBeGreaterThan(500); // count is 2 of 3 questions; the new number's scene is another in ~7 of 8
  });

  it('statedCount reads the number a count answer states', () => {
    expect(['One.', 'There are two circles.', 'Three.', 'There are no stars.', 'Zero.', 'There is one star.'].map(statedCount)).toEqual([1, 2, 3, 0, 0, 1]);
    expect(statedCount('Stars.')).toBeUndefined();
    expect(statedCount('There are no two stars.')).toBeUndefined(); // two numbers: none
  });
});

describe('cross-attention schedule (crossBefore)', () => {
  it('places one cross layer before each given core layer (stack index = layer + cross layers before it); refuses bad lists', () => {
    expect(crossLayersBefore(MINI_CROSS_BEFORE, 4)).toEqual([1, 4]); // the committed placement
    expect(crossLayersBefore([0, 1, 2, 3], 4)).toEqual([0, 2, 4, 6]);
    expect(coreAttachPoints(crossLayersBefore([3, 0], 4))).toEqual([0, 3]);
    expect(() => crossLayersBefore([], 4)).toThrow(/give at least one core layer/);
    expect(() => crossLayersBefore([0, 4, -1], 4)).toThrow(/4, -1 are not a core layer \(the core has layers 0–3\)/);
    expect(() => crossLayersBefore([1, 1], 4)).toThrow(/core layer listed twice in 1,1/);
    expect(parseCrossBefore(' 2, 0', 4)).toEqual([0, 2]);
    expect(() => parseCrossBefore('1;3', 4)).toThrow(/--cross-before "1;3": expected comma-separated core layer numbers such as 1,3 \(not "1;3"\)/);
    expect(() => parseCrossBefore('1,', 4)).toThrow(/\(not ""\)/);
    const text = loadLanguageCore().config;
    expect(miniVisionConfig(text).crossAttentionLayers).toEqual([1, 4]);
    expect(miniVisionConfig(text, undefined, [0, 1, 2, 3]).crossAttentionLayers).toEqual([0, 2, 4, 6]);
  });

  it('trains, saves and loads an adapter before every core layer: load follows the stored schedule, text-only prompts stay the core\'s to the bit, the image reaches the logits', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config, undefined, [0, 1, 2, 3]);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m)];
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, captionSteps: 0, qaSteps: 1, batch: 2, seqLen: 32, lr: 1e-3, crossBefore: [0, 1, 2, 3] });
    expect(r.config.crossAttentionLayers).toEqual([0, 2, 4, 6]);
    for (const c of [0, 2, 4, 6]) expect(r.weights[`${crossLayerPrefix(c)}.cross_attn_attn_gate`]).toBeDefined();
    expect(Object.keys(r.weights).sort()).toEqual([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name).sort());
    const dir = await mkdtemp(join(tmpdir(), 'herd-cross-before-'));
    try {
      await saveMiniVision(dir, r.config, core, r.weights);
      const v = loadMiniVision(dir, core);
      expect(v.config.crossAttentionLayers).toEqual([0, 2, 4, 6]);
      const textOnly = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: 'What colour is the circle?' }], { addGenerationPrompt: true })));
      const gen = VisionGenerator.create(v.config, core.weights, v.weights);
      const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights));
      try {
        const a = await gen.logits(textOnly, []);
        const b = await plain.logits(textOnly);
        a.forEach((row, t) => expect(Array.from(row)).toEqual(Array.from(b[t]!)));
        const [seen, blind] = await seenAndBlind(gen, imageQuestionIds(tok, core, v.config, 'What colour is the square?'), scenes[0]!.image);
        expect(seen).not.toEqual(blind);
      } finally {
        await gen.release();
        await plain.release();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the silhouette stream in the recipe (silhouetteStream)', () => {
  it('a silhouette layer after each scheduled cross-attention layer; both streams train; saves and loads the stream', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config, undefined, MINI_CROSS_BEFORE, 0, true);
    expect([m.crossAttentionLayers, m.silhouetteLayers]).toEqual([[1, 2, 5, 6], [2, 6]]);
    expect('silhouetteLayers' in miniVisionConfig(core.config)).toBe(false);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m)];
    const init = freshMiniVision(m, 1, 0.5);
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, captionSteps: 0, qaSteps: 1, batch: 2, seqLen: 32, lr: 1e-3, silhouetteStream: true, keyWordShare: 1, init });
    expect(r.config.silhouetteLayers).toEqual([2, 6]);
    // Every layer of both streams and both projectors moved by a gradient.
    const moved = (name: string) => movedByGradient(init, r.weights, name);
    for (const c of [1, 2, 5, 6]) expect(moved(`${crossLayerPrefix(c)}.cross_attn.q_proj.weight`)).toBe(true);
    expect([moved('multi_modal_projector.weight'), moved('silhouette_projector.weight')]).toEqual([true, true]);
    const dir = await mkdtemp(join(tmpdir(), 'herd-silhouette-'));
    try {
      await saveMiniVision(dir, r.config, core, r.weights);
      const v = loadMiniVision(dir, core);
      expect(v.config.silhouetteLayers).toEqual([2, 6]);
      // Stored as f16: the silhouette projector comes back within f16's rounding.
      const [saved, loaded] = [r.weights['silhouette_projector.weight']!.data as Float32Array, v.weights['silhouette_projector.weight']!.data as Float32Array];
      expect(loaded.length).toBe(saved.length);
      expect(Math.max(...Array.from(saved, (x, i) => Math.abs(x - loaded[i]!) / Math.max(1e-3, Math.abs(x))))).toBeLessThan(1e-3);
      const gen = VisionGenerator.create(v.config, core.weights, v.weights);
      try {
        const [seen, blind] = await seenAndBlind(gen, imageQuestionIds(tok, core, v.config, 'What colour is the square?'), scenes[0]!.image);
        expect(seen).not.toEqual(blind);
      } finally {
        await gen.release();
      }
      // A stored list that is not the model's cross-attention layers fails on load, naming the file.
      const cfgFile = join(dir, 'config.json');
      await writeFile(cfgFile, JSON.stringify({ ...JSON.parse(await readFile(cfgFile, 'utf8')), silhouetteLayers: [3] }));
      expect(() => loadMiniVision(dir, core)).toThrow(/config\.json: silhouetteLayers must be distinct cross-attention layers \(crossAttentionLayers \[1,2,5,6\]\), got \[3\]/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the image stream shut in key-word sequences not about colour (imageStreamDropout)', () => {
  it('such a sequence moves only the silhouette stream; colour questions keep both streams; bad values are refused', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config, undefined, MINI_CROSS_BEFORE, 0, true);
    const init = freshMiniVision(m, 1, 0.5);
    const base = { core, tokenizer: tok, captionSteps: 0, qaSteps: 1, batch: 2, seqLen: 32, lr: 1e-3, silhouetteStream: true, keyWordShare: 1, imageStreamDropout: 1, init };
    const colourScenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m)];
    const shapeScenes = colourScenes.map((s) => ({ ...s, qa: [{ type: 'shape', question: 'What shape is it?', answer: 'It is a square.' }] }));
    const streams = (w: Readonly<Record<string, { data: unknown }>>) => [1, 2, 5, 6].map((c) => movedByGradient(init, w, `${crossLayerPrefix(c)}.cross_attn.q_proj.weight`)).concat(['multi_modal_projector.weight', 'silhouette_projector.weight'].map((n) => movedByGradient(init, w, n)));
    // Image layers 1 and 5 and the image projector learn nothing from shape questions with the stream shut; silhouette layers 2 and 6 and theirs do.
    expect(streams((await trainMiniVision({ ...base, scenes: shapeScenes })).weights)).toEqual([false, true, false, true, false, true]);
    expect(streams((await trainMiniVision({ ...base, scenes: colourScenes })).weights)).toEqual([true, true, true, true, true, true]);
    const s = colourScenes[0]!;
    await expect(trainMiniVision({ ...base, scenes: [s], silhouetteStream: false })).rejects.toThrow(/imageStreamDropout shuts the image stream so the silhouette stream answers alone: set silhouetteStream too/);
    await expect(trainMiniVision({ ...base, scenes: [s], keyWordShare: 0 })).rejects.toThrow(/imageStreamDropout applies to key-word sequences: set keyWordShare above 0 too/);
    await expect(trainMiniVision({ ...base, scenes: [s], imageStreamDropout: 2 })).rejects.toThrow(/imageStreamDropout must be a share from 0 to 1, got 2/);
  }, 180_000);
});

describe('place embeddings in the recipe (placeEmbeddings)', () => {
  it('parses --place-embeddings and --place-init with the one reader herd vision train uses; refuses bad values as usage errors naming the flag', () => {
    expect(parsePlaceEmbeddings('6')).toBe(6);
    expect(parsePlaceEmbeddings('0')).toBe(0);
    for (const bad of ['x', '-1', '2.5', '65', '', '0x10']) {
      expect(() => parsePlaceEmbeddings(bad)).toThrow(new UsageError(`--place-embeddings must be an integer ≥ 0 and ≤ 64, got '${bad}'`));
      // herd's own command line, given PLACE_EMBEDDINGS_FLAG (as herd vision train declares it), says the same
      if (bad !== '') expect(() => parseCommandLine(['--place-embeddings', bad], { 'place-embeddings': PLACE_EMBEDDINGS_FLAG })).toThrow(`--place-embeddings must be an integer ≥ 0 and ≤ 64, got '${bad}'`);
    }
    expect(parseCommandLine([], { 'place-embeddings': PLACE_EMBEDDINGS_FLAG }).values['place-embeddings']).toBe(0);
    expect(parsePlaceInit('0')).toBe(0);
    expect(parsePlaceInit('0.25')).toBe(0.25);
    for (const bad of ['-0.1', 'abc', '', 'Infinity']) {
      expect(() => parsePlaceInit(bad)).toThrow(new UsageError(`--place-init must be a number ≥ 0, got '${bad}'`));
      if (bad !== '') expect(() => parseCommandLine(['--place-init', bad], { 'place-init': PLACE_INIT_FLAG })).toThrow(`--place-init must be a number ≥ 0, got '${bad}'`);
    }
    expect(() => checkPlaceInitGiven(0, true)).toThrow(new UsageError('--place-init is the init of --place-embeddings: give --place-embeddings G too'));
    for (const [g, given] of [[0, false], [6, true], [6, false]] as const) expect(() => checkPlaceInitGiven(g, given)).not.toThrow();
    expect(() => miniVisionConfig(loadLanguageCore().config, undefined, undefined, 65)).toThrow(/placeBins must be a whole number from 0 \(none\) to 64/);
    expect(miniVisionConfig(loadLanguageCore().config)).not.toHaveProperty('placeBins');
  });

  it('fresh tables: N(0, placeInit²) (default 0.4; 0: zeros); every other fresh value is the one without them', () => {
    expect(MINI_PLACE_INIT).toBe(0.4);
    const text = loadLanguageCore().config;
    const plain = freshMiniVision(miniVisionConfig(text), 3, 0.5, 2);
    const m = miniVisionConfig(text, undefined, undefined, 6);
    const fresh = freshMiniVision(m, 3, 0.5, 2);
    for (const n of Object.keys(plain)) expect(fresh[n]!.data, n).toEqual(plain[n]!.data);
    for (const n of [PLACE_ROW, PLACE_COL]) expect(fresh[n]!.data).toEqual(freshPlaceTables(m, 3)[n]!.data);
    expect(freshPlaceTables(miniVisionConfig(text), 3)).toEqual({});
    for (const [init, lo, hi] of [[MINI_PLACE_INIT, 0.36, 0.44], [0.1, 0.09, 0.11], [0, 0, 0]] as const) {
      const fresh = freshPlaceTables(m, 3, init);
      for (const n of [PLACE_ROW, PLACE_COL]) {
        expect(fresh[n]!.shape).toEqual([6, text.dim]);
        const x = Array.from(fresh[n]!.data as Float32Array);
        const sd = Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length);
        expect(sd).toBeGreaterThanOrEqual(lo);
        expect(sd).toBeLessThanOrEqual(hi);
      }
      if (init > 0) expect(fresh[PLACE_ROW]!.data).not.toEqual(fresh[PLACE_COL]!.data);
    }
    expect(() => freshMiniVision(m, 3, 0.5, 2, -1)).toThrow(/placeInit must be a finite number ≥ 0/);
    expect(() => freshPlaceTables(m, 3, Number.NaN)).toThrow(/placeInit must be a finite number ≥ 0/);
  });

  it('trains the tables with the adapter, saves and loads them (config placeBins); the loaded model reads them; no tables, no field', async () => {
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const m = miniVisionConfig(core.config, undefined, undefined, 3);
    const scenes = [scene(0, 'red', 1, m), scene(1, 'blue', 1, m)];
    const r = await trainMiniVision({ core, tokenizer: tok, scenes, captionSteps: 0, qaSteps: 2, batch: 2, seqLen: 32, lr: 1e-3, placeEmbeddings: 3 });
    expect(r.config.placeBins).toBe(3);
    expect(Object.keys(r.weights).sort()).toEqual([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m)].map((s) => s.name).sort());
    const fresh = freshMiniVision(m, 1, 0.5);
    expect(Array.from(r.weights[PLACE_ROW]!.data as Float32Array)).not.toEqual(Array.from(fresh[PLACE_ROW]!.data as Float32Array)); // trained
    const dir = await mkdtemp(join(tmpdir(), 'herd-place-'));
    try {
      await saveMiniVision(dir, r.config, core, r.weights);
      expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).placeBins).toBe(3);
      const v = loadMiniVision(dir, core);
      expect(v.config.placeBins).toBe(3);
      for (const n of [PLACE_ROW, PLACE_COL]) {
        const [a, b] = [r.weights[n]!.data as Float32Array, v.weights[n]!.data as Float32Array];
        a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual(1e-3 * Math.abs(x) + 1e-6)); // stored as f16
      }
      const prompt = imageQuestionIds(tok, core, v.config, 'What colour is the square?');
      const logits = async (w: VisionWeights) => { const gen = VisionGenerator.create(v.config, core.weights, w); try { return Array.from((await gen.logits(prompt, [scenes[0]!.image])).at(-1)!); } finally { await gen.release(); } };
      const zeroed = { ...v.weights, [PLACE_ROW]: { shape: v.weights[PLACE_ROW]!.shape, data: new Float32Array(v.weights[PLACE_ROW]!.data.length) }, [PLACE_COL]: { shape: v.weights[PLACE_COL]!.shape, data: new Float32Array(v.weights[PLACE_COL]!.data.length) } };
      expect(await logits(v.weights)).not.toEqual(await logits(zeroed));
      // A stored count out of range is refused on load.
      const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, placeBins: 99 }));
      expect(() => loadMiniVision(dir, core)).toThrow(/config\.json: placeBins must be a whole number from 0 \(none\) to 64, got 99/);
      // Without place embeddings the config has no placeBins field (as every checkpoint before round 24).
      const plain = miniVisionConfig(core.config);
      await saveMiniVision(dir, plain, core, Object.fromEntries(Object.entries(r.weights).filter(([n]) => !n.startsWith('vision_place.'))));
      expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).not.toHaveProperty('placeBins');
      expect(loadMiniVision(dir, core).config).not.toHaveProperty('placeBins');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('readSceneExamples', () => {
  it('skips labelled noise by default; with labelledNoise reads it too (an uncurated baseline) and skips only what does not decode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-scenes-'));
    try {
      await writeDataset(dir, generateImages({ seed: 3, count: 24, noiseRate: 0.5, noiseKinds: ['blank', 'truncated', 'exact_duplicate'], side: [64, 96] }), { samplesPerShard: 12 });
      const m = miniVisionConfig(loadLanguageCore().config);
      const clean = await readSceneExamples(dir, m);
      expect(clean.length).toBe(12);
      expect(clean.every((s) => s.noise === undefined)).toBe(true);
      const skipped = { undecodable: 0 };
      const raw = await readSceneExamples(dir, m, { labelledNoise: true, skipped });
      expect(skipped.undecodable).toBe(4);
      expect(raw.length).toBe(20);
      expect(raw.filter((s) => s.noise === 'blank').length).toBe(4);
      expect(raw.filter((s) => s.noise === 'exact_duplicate').length).toBe(4);
      expect(raw.filter((s) => s.noise === null).map((s) => s.key)).toEqual(clean.map((s) => s.key));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
