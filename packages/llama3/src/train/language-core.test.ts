/** The language-core recipe from text shards: it trains, saves a loadable core, and resumes exactly. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '@herd/data';
import { type Llama3Tokenizer, loadLlama3Tokenizer } from '../tokenizer/tokenizer.js';
import { loadLanguageCore } from '../mini.js';
import { type LlamaConfig } from '../config.js';
import { type Weights, buildDecoder, initWeights } from '../model/graphs.js';
import { Generator } from '../model/generate.js';
import { loadPreset } from '../presets/index.js';
import { PrunedVocab } from '../tokenizer/pruned.js';
import { type LanguageCoreRecipe, grownLayerPositions, trainLanguageCore, warmStartWeights } from './language-core.js';
import { LANGUAGE_CORE_FILES } from './save-core.js';

const root = mkdtempSync(join(tmpdir(), 'herd-core-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const COLOURS = ['red', 'blue', 'green', 'pink'];
const SHAPES = ['circle', 'square', 'star'];
async function corpus(dir: string, n: number, offset: number, colours = COLOURS): Promise<void> {
  const enc = new TextEncoder();
  await writeDataset(dir, Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    const text = `The ${colours[k % colours.length]} ${SHAPES[k % 3]} is on the ${k % 2 ? 'left' : 'right'}.`;
    return k % 5 === 0
      ? { key: `d${k}`, files: { txt: enc.encode(text) }, meta: { kind: 'dialogue', turns: [{ role: 'user', content: `Where is the ${SHAPES[k % 3]}?` }, { role: 'assistant', content: text }] } }
      : { key: `d${k}`, files: { txt: enc.encode(text) }, meta: { kind: 'sentence' } };
  }), { samplesPerShard: 16 });
}

/** Two cores compute the same function: the logits of three greedy steps after one prompt agree to 5 decimals. */
async function expectSameLogits(tokenizer: Llama3Tokenizer, vocab: PrunedVocab, a: { config: LlamaConfig; weights: Weights }, b: { config: LlamaConfig; weights: Weights }): Promise<void> {
  const logitsOf = async (core: typeof a) => {
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    const seen: Float32Array[] = [];
    const prompt = Array.from(vocab.toCompact(tokenizer.encode('The red star is on the', { bos: true, eos: false })));
    await gen.complete(prompt, { maxNewTokens: 3, temperature: 0, scorer: { score: (_g, l) => (seen.push(Float32Array.from(l)), l) } });
    return seen;
  };
  const [la, lb] = [await logitsOf(a), await logitsOf(b)];
  expect(lb.length).toBe(3);
  lb.forEach((l, i) => l.forEach((x, j) => expect(x).toBeCloseTo(la[i]![j]!, 5)));
}

describe('trainLanguageCore', () => {
  it('trains from text shards, saves the core, and a resumed run continues exactly', async () => {
    await corpus(join(root, 'text', 'train'), 60, 0);
    await corpus(join(root, 'text', 'heldout'), 8, 1000);
    const tokenizer = await loadLlama3Tokenizer();
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 10, schedule: { kind: 'constant', peak: 2e-3, warmup: 2 }, weightDecay: 0.1, evalEvery: 3 };
    const base = { tokenizer, data: { train: join(root, 'text', 'train'), heldout: join(root, 'text', 'heldout') }, dataDescription: 'test sentences', dataCommand: 'node datasets/dist/cli.js generate --size tiny --only text --seed 3 --count text=60 --out OUT' };
    const run = (name: string, steps: number, resume = false) =>
      trainLanguageCore({ ...base, recipe: { ...recipe, steps }, workDir: join(root, name, 'data'), outDir: join(root, name, 'core'), checkpointDir: join(root, name, 'ck'), logPath: join(root, name, 'log.jsonl'), resume });
    const a = await run('a', 10);
    expect(a.steps).toBe(10);
    expect(a.trainDocs).toBe(60);
    expect(a.curve.at(-1)!.trainLoss).toBeLessThan(a.curve[0]?.trainLoss ?? Infinity);
    for (const f of Object.values(LANGUAGE_CORE_FILES)) expect(existsSync(join(root, 'a', 'core', f))).toBe(true);
    // The recipe's architecture overrides are in the card, and its re-train line passes the ones `herd text train` takes.
    const card = readFileSync(join(root, 'a', 'core', LANGUAGE_CORE_FILES.card), 'utf8');
    expect(card).toContain('The mini preset with dim 32, nLayers 2, nHeads 4, nKvHeads 2, ffnDim 64 in place of its own.');
    // … with every flag that differs from the defaults, and the folder it was written to (outside the repository: as given).
    expect(card).toContain(`--lr 0.002 --kv-heads 2 --seed 5 --out ${join(root, 'a', 'core')}\``);
    // … and the corpus by the command that re-makes it.
    expect(card).toContain('(DATA: the corpus of the Data section, made by `node datasets/dist/cli.js generate --size tiny --only text --seed 3 --count text=60 --out OUT`, DATA = OUT/text.)');
    await run('b', 6);
    const b = await run('b', 10, true);
    // Same held-out loss to the last bit: same weights after the same batches.
    expect(b.heldoutLoss).toBe(a.heldoutLoss);
    expect(b.finalTrainLoss).not.toBeNaN();
  });

  it('continues from a trained core: weights and known token rows carried over, new tokens fresh, loss starts lower', async () => {
    const tokenizer = await loadLlama3Tokenizer();
    await corpus(join(root, 'w', 'train'), 40, 0);
    await corpus(join(root, 'w', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 30, schedule: { kind: 'constant', peak: 3e-3, warmup: 2 }, weightDecay: 0.1, evalEvery: 30 };
    const base = { tokenizer, data: { train: join(root, 'w', 'train'), heldout: join(root, 'w', 'heldout') }, dataDescription: 'test sentences' };
    await trainLanguageCore({ ...base, recipe, workDir: join(root, 'w', 'data'), outDir: join(root, 'w', 'core') });
    const trained = loadLanguageCore(join(root, 'w', 'core'));

    // A vocabulary with one more token ("purple"): shared ids keep their rows, the new one is fresh.
    const extra = tokenizer.encodeOrdinary(' purple');
    const vocab = PrunedVocab.fromCorpus(tokenizer, [], { keepIds: [...trained.vocab!.ids, ...extra] });
    expect(vocab.size).toBeGreaterThan(trained.vocab!.size);
    const config = loadPreset('mini', { ...recipe.presetOverrides, vocabSize: vocab.size });
    const fresh = initWeights(config, 9);
    const warm = warmStartWeights(fresh, config, vocab, trained);
    const D = config.dim;
    const row = (w: Readonly<Record<string, { readonly data: unknown }>>, v: PrunedVocab, fullId: number) => Array.from((w['model.embed_tokens.weight']!.data as Float32Array).subarray(v.toCompact([fullId])[0]! * D, (v.toCompact([fullId])[0]! + 1) * D));
    const shared = trained.vocab!.ids[5]!;
    expect(row(warm, vocab, shared)).toEqual(row(trained.weights, trained.vocab!, shared));
    expect(row(warm, vocab, extra[0]!)).toEqual(row(fresh, vocab, extra[0]!));
    expect(Array.from(warm['model.norm.weight']!.data as Float32Array)).toEqual(Array.from(trained.weights['model.norm.weight']!.data as Float32Array));
    // Another architecture is refused, naming what differs.
    const wide = loadPreset('mini', { ...recipe.presetOverrides, dim: 64, vocabSize: vocab.size });
    expect(() => warmStartWeights(initWeights(wide, 9), wide, vocab, trained)).toThrow(/dim: the new core has 64/);

    // Continuing on the same text starts where the trained core ended, far below a fresh start.
    const one = { ...recipe, steps: 2, evalEvery: 2 };
    const fromScratch = await trainLanguageCore({ ...base, recipe: one, workDir: join(root, 'w', 'data'), outDir: join(root, 'w', 'scratch') });
    const continued = await trainLanguageCore({ ...base, recipe: one, workDir: join(root, 'w', 'data'), outDir: join(root, 'w', 'continued'), init: { core: trained, description: 'the test core' } });
    expect(continued.initialisedFrom).toBe('the test core');
    expect(continued.heldoutLoss).toBeLessThan(fromScratch.heldoutLoss - 0.5);
  });

  it('keeps the trained core\'s vocabulary exactly when asked (same rows, even for a corpus using fewer tokens) and refuses a token outside it', async () => {
    const tokenizer = await loadLlama3Tokenizer();
    await corpus(join(root, 'k', 'train'), 40, 0);
    await corpus(join(root, 'k', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 4, schedule: { kind: 'constant', peak: 3e-3, warmup: 1 }, weightDecay: 0.1, evalEvery: 4 };
    const at = (name: string) => ({ train: join(root, 'k', name, 'train'), heldout: join(root, 'k', 'heldout') });
    await trainLanguageCore({ tokenizer, data: { train: join(root, 'k', 'train'), heldout: join(root, 'k', 'heldout') }, dataDescription: 'test', recipe, workDir: join(root, 'k', 'data'), outDir: join(root, 'k', 'core') });
    const trained = loadLanguageCore(join(root, 'k', 'core'));
    // A corpus without "pink": its own vocabulary would be smaller and shift every later row.
    await corpus(at('fewer').train, 40, 0, ['red', 'blue', 'green']);
    const fewer = { tokenizer, data: at('fewer'), dataDescription: 'test', recipe: { ...recipe, replyLoss: true } };
    const own = await trainLanguageCore({ ...fewer, workDir: join(root, 'k', 'd1'), outDir: join(root, 'k', 'own'), init: { core: trained, description: 'the test core' } });
    expect(own.vocabSize).toBeLessThan(trained.vocab!.size);
    const kept = await trainLanguageCore({ ...fewer, workDir: join(root, 'k', 'd2'), outDir: join(root, 'k', 'kept'), init: { core: trained, description: 'the test core', keepVocabulary: true } });
    expect(kept.vocabSize).toBe(trained.vocab!.size);
    expect(kept.keptVocabulary).toBe(true);
    const keptCore = loadLanguageCore(join(root, 'k', 'kept'));
    expect(keptCore.vocab!.ids).toEqual(trained.vocab!.ids);
    // Rows not in the new corpus ("pink") keep the trained values (tied embedding: no gradient but weight decay).
    const D = 32;
    const pink = trained.vocab!.toCompact(tokenizer.encodeOrdinary(' pink'))[0]!;
    const rowOf = (c: typeof trained) => Array.from((c.weights['model.embed_tokens.weight']!.data as Float32Array).subarray(pink * D, (pink + 1) * D));
    rowOf(keptCore).forEach((x, i) => expect(x).toBeCloseTo(rowOf(trained)[i]!, 1));
    // A corpus with a token the core never had is refused, naming it.
    await corpus(at('more').train, 40, 0, ['red', 'purple']);
    await expect(trainLanguageCore({ ...fewer, data: at('more'), workDir: join(root, 'k', 'd3'), outDir: join(root, 'k', 'more'), init: { core: trained, description: 'the test core', keepVocabulary: true } })).rejects.toThrow(/token\(s\) that .*vocabulary lacks \(.*" purple"/su);
  });
  it('weighs key words when asked: weight 1 (or weights that are all 1) trains exactly like the plain reply loss; key words move the training loss; needs replyLoss and a keyWords source', async () => {
    const tokenizer = await loadLlama3Tokenizer();
    await corpus(join(root, 'q', 'train'), 40, 0);
    await corpus(join(root, 'q', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 3, schedule: { kind: 'constant', peak: 3e-3, warmup: 1 }, weightDecay: 0.1, evalEvery: 3, replyLoss: true };
    const base = { tokenizer, data: { train: join(root, 'q', 'train'), heldout: join(root, 'q', 'heldout') }, dataDescription: 'test' };
    const run = (name: string, r: LanguageCoreRecipe, keyWords?: (s: { meta: Readonly<Record<string, unknown>> }) => string[][] | undefined) =>
      trainLanguageCore({ ...base, recipe: r, workDir: join(root, 'q', name, 'data'), outDir: join(root, 'q', name, 'core'), ...(keyWords ? { keyWords: { of: keyWords, name } } : {}) });
    // The dialogue replies say "The <colour> <shape> is on the <side>."; the side is the key word.
    const side = (s: { meta: Readonly<Record<string, unknown>> }) => [[/left/u.test(JSON.stringify(s.meta['turns'])) ? 'left' : 'right']];
    const plain = await run('plain', recipe);
    const one = await run('one', { ...recipe, keyWordWeight: 1 }, side);
    const none = await run('none', { ...recipe, keyWordWeight: 5 }, () => [[]]);
    const keyed = await run('keyed', { ...recipe, keyWordWeight: 5 }, side);
    expect(one.curve.map((c) => c.trainLoss)).toEqual(plain.curve.map((c) => c.trainLoss));
    expect(one.heldoutLoss).toBe(plain.heldoutLoss);
    // Weighted graph and rows, but every weight 1: the same loss and the same weights, to the bit.
    expect(none.curve.map((c) => c.trainLoss)).toEqual(plain.curve.map((c) => c.trainLoss));
    expect(none.heldoutLoss).toBe(plain.heldoutLoss);
    expect(keyed.curve[0]!.trainLoss).not.toBe(plain.curve[0]!.trainLoss);
    expect(keyed.heldoutLoss).not.toBe(plain.heldoutLoss);
    await expect(run('noreply', { ...recipe, replyLoss: false, keyWordWeight: 5 }, side)).rejects.toThrow(/keyWordWeight 5 needs replyLoss/);
    await expect(run('nosource', { ...recipe, keyWordWeight: 5 })).rejects.toThrow(/no keyWords says which words/);
  });

  it('unties a tied core when asked: the same function before any step (logits, first training loss), then lm_head trains apart; saves and loads as untied; an untied core is refused, and continues untied without the flag', async () => {
    const tokenizer = await loadLlama3Tokenizer();
    await corpus(join(root, 'u', 'train'), 40, 0);
    await corpus(join(root, 'u', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 6, schedule: { kind: 'constant', peak: 3e-3, warmup: 1 }, weightDecay: 0.1, evalEvery: 3, replyLoss: true };
    const base = { tokenizer, data: { train: join(root, 'u', 'train'), heldout: join(root, 'u', 'heldout') }, dataDescription: 'test', workDir: join(root, 'u', 'data') };
    await trainLanguageCore({ ...base, recipe, outDir: join(root, 'u', 'tied') });
    const tied = loadLanguageCore(join(root, 'u', 'tied'));
    expect(tied.config.tieEmbeddings).toBe(true);
    expect(tied.weights['lm_head.weight']).toBeUndefined();

    // Before any step: the untied copy's logits are the tied core's (lm_head = a copy of the embedding).
    const config = loadPreset('mini', { ...recipe.presetOverrides, vocabSize: tied.vocab!.size, tieEmbeddings: false });
    const warm = warmStartWeights(initWeights(config, 9), config, tied.vocab!, tied, { untie: true });
    expect(Array.from(warm['lm_head.weight']!.data as Float32Array)).toEqual(Array.from(tied.weights['model.embed_tokens.weight']!.data as Float32Array));
    await expectSameLogits(tokenizer, tied.vocab!, tied, { config, weights: warm });
    // Training: the first step's loss (computed before the update) is the tied run's to the bit; then the rows part.
    const init = { core: tied, description: 'the tied test core', keepVocabulary: true };
    const every = { ...recipe, evalEvery: 1 }; // the curve then holds step 1
    const keep = await trainLanguageCore({ ...base, recipe: every, outDir: join(root, 'u', 'cont'), init });
    const untied = await trainLanguageCore({ ...base, recipe: every, outDir: join(root, 'u', 'untied'), init: { ...init, untieEmbeddings: true } });
    expect(untied.curve[0]!.step).toBe(1);
    expect(untied.curve[0]!.trainLoss).toBe(keep.curve[0]!.trainLoss);
    expect(untied.heldoutLoss).not.toBe(keep.heldoutLoss);
    expect(untied.untiedEmbeddings).toBe(true);
    expect(untied.parameters).toBe(keep.parameters + tied.vocab!.size * 32);

    // Saved in the HF layout as untied; loads back; the card says so and how it was made.
    const loaded = loadLanguageCore(join(root, 'u', 'untied'));
    expect(loaded.config.tieEmbeddings).toBe(false);
    expect(JSON.parse(readFileSync(join(root, 'u', 'untied', LANGUAGE_CORE_FILES.config), 'utf8')).tie_word_embeddings).toBe(false);
    const head = loaded.weights['lm_head.weight']!, emb = loaded.weights['model.embed_tokens.weight']!;
    expect(head.shape).toEqual([tied.vocab!.size, 32]);
    expect(Array.from(head.data as Float32Array)).not.toEqual(Array.from(emb.data as Float32Array));
    const card = readFileSync(join(root, 'u', 'untied', LANGUAGE_CORE_FILES.card), 'utf8');
    expect(card).toMatch(/untied embeddings/);
    expect(card).toMatch(/--keep-vocab --untie-embeddings/);
    // An untied core continues as it is (its own lm_head rows), and cannot be untied again (refused before packing).
    const again = warmStartWeights(initWeights(config, 9), config, loaded.vocab!, loaded);
    expect(Array.from(again['lm_head.weight']!.data as Float32Array)).toEqual(Array.from(head.data as Float32Array));
    expect(() => warmStartWeights(initWeights(config, 9), config, loaded.vocab!, loaded, { untie: true })).toThrow(/already untied/);
    // trainLanguageCore continues an untied core as untied (the config follows the init core), with no untying flag.
    const cont = await trainLanguageCore({ ...base, recipe, outDir: join(root, 'u', 'cont-untied'), init: { core: loaded, description: 'the untied test core', keepVocabulary: true } });
    expect(cont.untiedEmbeddings).toBeUndefined();
    expect(cont.parameters).toBe(untied.parameters);
    expect(loadLanguageCore(join(root, 'u', 'cont-untied')).config.tieEmbeddings).toBe(false);
    const contCard = readFileSync(join(root, 'u', 'cont-untied', LANGUAGE_CORE_FILES.card), 'utf8');
    expect(contCard).toMatch(/untied embeddings/);
    expect(contCard).not.toMatch(/--untie-embeddings/);
    await expect(trainLanguageCore({ ...base, recipe, workDir: join(root, 'u', 'never-packed'), outDir: join(root, 'u', 'twice'), init: { core: loaded, description: 'x', untieEmbeddings: true } })).rejects.toThrow(/is already untied \(it has its own lm_head.weight\)/);
    expect(existsSync(join(root, 'u', 'never-packed'))).toBe(false);
    // Without untying, a tied core continued into an untied config is refused (tieEmbeddings differs).
    expect(() => warmStartWeights(initWeights(config, 9), config, tied.vocab!, tied)).toThrow(/tieEmbeddings: the new core has false/);
  });
  it('grows a core deeper when asked: trained layers spread evenly, new ones the identity, so the same function before any step; then every layer trains; the card says how; a depth not above the core\'s is refused', async () => {
    expect(grownLayerPositions(4, 6)).toEqual([0, 2, 3, 5]);
    expect(grownLayerPositions(2, 3)).toEqual([0, 2]);
    expect(grownLayerPositions(1, 3)).toEqual([0]);
    expect(grownLayerPositions(2, 4)).toEqual([0, 3]);
    expect(() => grownLayerPositions(4, 4)).toThrow(/must be an integer above the old one/);
    const tokenizer = await loadLlama3Tokenizer();
    await corpus(join(root, 'g', 'train'), 40, 0);
    await corpus(join(root, 'g', 'heldout'), 8, 1000);
    const recipe: LanguageCoreRecipe = { preset: 'mini', presetOverrides: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64 }, seed: 5, seqLen: 32, batch: 2, steps: 6, schedule: { kind: 'constant', peak: 3e-3, warmup: 1 }, weightDecay: 0.1, evalEvery: 1, replyLoss: true };
    const base = { tokenizer, data: { train: join(root, 'g', 'train'), heldout: join(root, 'g', 'heldout') }, dataDescription: 'test', workDir: join(root, 'g', 'data') };
    await trainLanguageCore({ ...base, recipe, outDir: join(root, 'g', 'two') });
    const two = loadLanguageCore(join(root, 'g', 'two'));

    // Before any step: layers 0 and 2 are the trained 0 and 1; layer 1 is fresh but for its zeroed residual outputs.
    const config = loadPreset('mini', { ...recipe.presetOverrides, nLayers: 3, vocabSize: two.vocab!.size });
    const fresh = initWeights(config, 9);
    const warm = warmStartWeights(fresh, config, two.vocab!, two, { grow: true });
    const values = (w: Readonly<Record<string, { readonly data: unknown }>>, name: string) => Array.from(w[name]!.data as Float32Array);
    expect(values(warm, 'model.layers.2.self_attn.q_proj.weight')).toEqual(values(two.weights, 'model.layers.1.self_attn.q_proj.weight'));
    expect(values(warm, 'model.layers.0.mlp.down_proj.weight')).toEqual(values(two.weights, 'model.layers.0.mlp.down_proj.weight'));
    expect(values(warm, 'model.layers.1.self_attn.q_proj.weight')).toEqual(values(fresh, 'model.layers.1.self_attn.q_proj.weight'));
    expect(values(warm, 'model.layers.1.self_attn.o_proj.weight').every((x) => x === 0)).toBe(true);
    expect(values(warm, 'model.layers.1.mlp.down_proj.weight').every((x) => x === 0)).toBe(true);
    expect(values(fresh, 'model.layers.1.mlp.down_proj.weight').some((x) => x !== 0)).toBe(true);
    await expectSameLogits(tokenizer, two.vocab!, two, { config, weights: warm });
    // Without grow, another depth is refused; growing to a depth not above the core's is refused before packing.
    expect(() => warmStartWeights(fresh, config, two.vocab!, two)).toThrow(/nLayers: the new core has 3/);
    await expect(trainLanguageCore({ ...base, recipe, workDir: join(root, 'g', 'never-packed'), outDir: join(root, 'g', 'same'), init: { core: two, description: 'x', growLayers: 2 } })).rejects.toThrow(/cannot grow .* to 2 layers: it has 2/);
    expect(existsSync(join(root, 'g', 'never-packed'))).toBe(false);

    // Training: the first step's loss (before the update) is the two-layer core's to the bit; then the new layer trains.
    const init = { core: two, description: 'the two-layer test core', keepVocabulary: true };
    const keep = await trainLanguageCore({ ...base, recipe, outDir: join(root, 'g', 'cont'), init });
    const grown = await trainLanguageCore({ ...base, recipe, outDir: join(root, 'g', 'three'), init: { ...init, growLayers: 3 } });
    expect(grown.curve[0]!.step).toBe(1);
    expect(grown.curve[0]!.trainLoss).toBe(keep.curve[0]!.trainLoss);
    expect(grown.config.nLayers).toBe(3);
    expect(grown.grown).toEqual({ from: 2, to: 3, positions: [0, 2] });
    const three = loadLanguageCore(join(root, 'g', 'three'));
    expect(three.config.nLayers).toBe(3);
    expect(values(three.weights, 'model.layers.1.self_attn.o_proj.weight').some((x) => x !== 0)).toBe(true);
    expect(values(three.weights, 'model.layers.1.mlp.down_proj.weight').some((x) => x !== 0)).toBe(true);
    const card = readFileSync(join(root, 'g', 'three', LANGUAGE_CORE_FILES.card), 'utf8');
    expect(card).toContain('grown from its 2 layers to 3: its layers became layers 0, 2');
    expect(card).toMatch(/--keep-vocab --grow-layers 3 --reply-loss/);
    // A grown core continues as it is (its own config.json's depth), without the flag.
    const cont = await trainLanguageCore({ ...base, recipe, outDir: join(root, 'g', 'three-cont'), init: { core: three, description: 'the grown test core', keepVocabulary: true } });
    expect(cont.config.nLayers).toBe(3);
    expect(cont.grown).toBeUndefined();
  });
});
