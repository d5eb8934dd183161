/**
 * The mini vision recipe (§7.2–7.4 in miniature): the mini image encoder and cross-attention adapter
 * trained against the frozen committed mini language core on the synthetic world's scene images.
 * Stage 0: the encoder is pre-trained contrastively on the scenes' image–caption pairs (CLIP, §7.2;
 * the mini CLIP's `trainMiniClip`), and its image tower becomes the encoder's starting values.
 * Stage 1: caption pre-training (`<|begin_of_text|><|image|>caption<|end_of_text|>`, loss on the
 * caption). Stage 2: QA SFT in the chat format (loss on the assistant's reply only). The learning rate
 * is re-warmed for stage 2. Only the groups `vision.encoder` and `vision.adapter` train.
 *
 * Each stage is a call of llama3's shared `trainAdapter` with the vision extension and an in-memory
 * batch source (the images are decoded and tiled once and reused by every stage).
 *
 * Legend: B sequences (one image each), T tokens.
 */
import { join } from 'node:path';
import { HerdError, Rng, UsageError, flag, parseCounts, parseNumber } from '@herd/core';
import { iterateDataset, isUnreadable } from '@herd/data';
import * as G from '@herd/graph';
import { type AdapterSelected, END_OF_TEXT_ID, IMAGE_TOKEN_ID, type LanguageCore, type Llama3Tokenizer, type LlamaConfig, sceneFacts, trainAdapter } from '@herd/llama3';
import { DEFAULT_DEVICE, type Device, type HostTensor, hostTensor } from '@herd/runtime';
import { MAX_PLACE_BINS, type MllamaConfig, type VisionConfig, placeBinsOf, withSilhouetteStream } from '../config.js';
import { decodeImage, type RgbImage } from '@herd/media';
import { type TiledImage, tileImage } from '../data/tiling.js';
import { crossLayerPrefix } from '../model/cross-attention.js';
import { ADAPTER_GROUP, ENCODER_GLOBAL_GROUP, ENCODER_GROUPS, PLACE_GROUP, PROJECTOR_GROUP, type VisionWeights, visionTrainingExtension } from '../model/graphs.js';
import { adapterParamSpecs, encoderParamSpecs, isPlaceParam, placeParamSpecs } from '../model/params.js';
import { loadVisionPreset } from '../presets/index.js';
import { type AdapterSample, adapterBatch } from './adapter.js';
import { miniClipConfig, trainMiniClip } from './clip-mini.js';
import { SCENE_CELL, type SceneSpec, recolourInk, trainDenseEncoder } from './dense-mini.js';
import { reshapeObjects, reshapedQuestion } from './reshape.js';

/** The core layers the mini adapter's cross-attention runs before by default: 1 and 3 of the 4 (stack indices [1, 4]). */
export const MINI_CROSS_BEFORE: readonly number[] = [1, 3];

/**
 * Stack indices (HF `cross_attention_layers`) of cross-attention layers that run before the given core
 * layers: the k-th cross layer (in core-layer order) before core layer L sits at stack index L + k —
 * the inverse of `coreAttachPoints`. Throws on an empty, repeated or out-of-range list.
 */
export function crossLayersBefore(coreLayers: readonly number[], nCoreLayers: number): number[] {
  const bad = coreLayers.filter((l) => !Number.isInteger(l) || l < 0 || l >= nCoreLayers);
  if (coreLayers.length === 0) throw new HerdError('invalid_argument', 'cross-attention schedule: give at least one core layer to attach before');
  if (bad.length) throw new HerdError('invalid_argument', `cross-attention schedule: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not a core layer (the core has layers 0–${nCoreLayers - 1})`);
  if (new Set(coreLayers).size !== coreLayers.length) throw new HerdError('invalid_argument', `cross-attention schedule: core layer listed twice in ${coreLayers.join(',')}`);
  return [...coreLayers].sort((a, b) => a - b).map((l, k) => l + k);
}

/**
 * A `--cross-before` value ("0,1,2,3": core layers, comma-separated) as a sorted list, checked against a
 * core of `nCoreLayers` layers (`crossLayersBefore`'s checks); anything but whole numbers is an error.
 */
export function parseCrossBefore(text: string, nCoreLayers: number): number[] {
  const parts = text.split(',').map((x) => x.trim());
  const bad = parts.filter((x) => !/^\d+$/u.test(x));
  if (bad.length) throw new HerdError('invalid_argument', `--cross-before ${JSON.stringify(text)}: expected comma-separated core layer numbers such as 1,3 (not ${bad.map((x) => JSON.stringify(x)).join(', ')})`);
  const layers = parts.map(Number);
  crossLayersBefore(layers, nCoreLayers);
  return [...layers].sort((a, b) => a - b);
}

/** `--place-embeddings G`, herd vision train's flag and the vision oracle's: the G×G grid of the place tables, 0 (none) to 64. */
export const PLACE_EMBEDDINGS_FLAG = flag.integer({ min: 0, max: MAX_PLACE_BINS, default: 0, placeholder: 'G' });

/** `--place-init X`, both readers': the fresh place tables' standard deviation, ≥ 0 (0: zero init; not given: `MINI_PLACE_INIT`). */
export const PLACE_INIT_FLAG = flag.number({ min: 0, placeholder: 'X' });

/** A `--place-embeddings` value read outside herd's command line (the oracle): `PLACE_EMBEDDINGS_FLAG`'s rules and message, a UsageError. */
export function parsePlaceEmbeddings(text: string): number {
  return parseNumber('place-embeddings', PLACE_EMBEDDINGS_FLAG, text);
}

/** A `--place-init` value read outside herd's command line (the oracle): `PLACE_INIT_FLAG`'s rules and message, a UsageError. */
export function parsePlaceInit(text: string): number {
  return parseNumber('place-init', PLACE_INIT_FLAG, text);
}

/** `--place-init` is the init of `--place-embeddings`: given without a grid it is a usage error (herd vision train and the oracle). */
export function checkPlaceInitGiven(placeEmbeddings: number, placeInitGiven: boolean): void {
  if (placeInitGiven && placeEmbeddings === 0) throw new UsageError('--place-init is the init of --place-embeddings: give --place-embeddings G too');
}

/**
 * The mini herd's vision model: the mini encoder, cross-attention before the core layers `crossBefore` (default 1 and 3 of the 4),
 * and `placeBins` × `placeBins` learned place embeddings (default 0: none, and no `placeBins` field). With `silhouetteStream`
 * each of those core layers gets two cross-attention layers, the image's and then the silhouette's (`MllamaConfig.silhouetteLayers`;
 * default off, and no field).
 */
export function miniVisionConfig(text: LlamaConfig, vision: VisionConfig = loadVisionPreset('mini'), crossBefore: readonly number[] = MINI_CROSS_BEFORE, placeBins = 0, silhouetteStream = false): MllamaConfig {
  const crossAttentionLayers = crossLayersBefore(crossBefore, text.nLayers);
  const m: MllamaConfig = {
    text, vision, crossAttentionLayers, imageTokenId: text.vocabSize, nLearnableTokens: 8, ...(placeBins !== 0 ? { placeBins } : {}),
    ...(silhouetteStream ? withSilhouetteStream(crossAttentionLayers) : {}),
  };
  placeBinsOf(m); // a bad count fails here
  return m;
}

/** A scene image of the synthetic world with what it shows. */
export interface SceneExample {
  readonly key: string;
  readonly split: 'train' | 'heldout';
  readonly image: TiledImage;
  readonly caption: string;
  readonly qa: readonly { readonly question: string; readonly answer: string; readonly type: string }[];
  /** What the scene shows (the generator's spec: objects, background, word), when the metadata records it. */
  readonly scene?: SceneSpec;
  /**
   * Single-object scenes only: the image cropped to the object's grid cell (with a margin), so the
   * object fills most of the canvas — the zoom stage's input (see `MiniVisionOptions.zoomSteps`).
   */
  readonly zoom?: TiledImage;
  /** The generator's noise label (`meta.noise`); only read with `labelledNoise`, otherwise such samples are skipped. */
  readonly noise?: string | null;
}

/** The image cropped to a grid cell widened by `margin` (a fraction of the cell) on each side. */
export function cropToCell(img: RgbImage, cell: readonly [number, number], margin = 0.2): RgbImage {
  const [cw, ch] = [img.width / 3, img.height / 3];
  const x0 = Math.max(0, Math.floor((cell[0] - margin) * cw));
  const y0 = Math.max(0, Math.floor((cell[1] - margin) * ch));
  const x1 = Math.min(img.width, Math.ceil((cell[0] + 1 + margin) * cw));
  const y1 = Math.min(img.height, Math.ceil((cell[1] + 1 + margin) * ch));
  const [w, h] = [x1 - x0, y1 - y0];
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x1) * 3), y * w * 3);
  return { width: w, height: h, data };
}

/** The world's shape words, one and several (@herd/datasets' `SHAPES`, a dev dependency here). */
const SHAPE_WORDS = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond', 'circles', 'squares', 'triangles', 'stars', 'hexagons', 'diamonds'] as const;

/** The world's colour words (the first of `KEY_WORDS`; @herd/datasets' `COLOURS`, which is only a dev dependency here). */
export const COLOUR_WORDS = ['red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'black'] as const;

/** The words that carry a scene's facts in the synthetic world's answers (colour, shape, number, size, yes/no, place). */
const KEY_WORDS = [
  ...COLOUR_WORDS,
  ...SHAPE_WORDS,
  'no', 'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'yes', 'small', 'little', 'medium', 'big', 'large',
  'left', 'right', 'top', 'bottom', 'centre', 'middle',
];

/**
 * Compact ids of the key words' tokens in every spelling a reply uses (leading space or not, capitalised or
 * not); a word the tokenizer splits contributes all its pieces.
 */
export function keyTokenIds(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, words: readonly string[] = KEY_WORDS): Set<number> {
  const out = new Set<number>();
  for (const w of words) {
    for (const form of [w, ` ${w}`, w[0]!.toUpperCase() + w.slice(1), ` ${w[0]!.toUpperCase()}${w.slice(1)}`]) {
      const full = tok.encodeOrdinary(form);
      for (const id of core.vocab ? core.vocab.toCompact(full) : full) if (id !== core.vocab?.unknown) out.add(id);
    }
  }
  return out;
}

/**
 * The key-word ids of one question's reply: `keys` (`keyTokenIds`), and for a `word` question also the
 * tokens of the scene's written word — the world's words (cat, ship, …) are not among KEY_WORDS, so
 * without this a key-word sequence of a word question ("The word is rain.") had no target at all and
 * the recipe never trained reading (measured with oracle codes, bench/src/vision-oracle.ts).
 */
export function questionKeyIds(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, keys: ReadonlySet<number>, type: string, written: string | undefined): ReadonlySet<number> {
  if (type !== 'word' || written === undefined) return keys;
  return new Set([...keys, ...keyTokenIds(tok, core, [written.toLowerCase()])]);
}

/**
 * Answer-form words, by question type: words of a reply that are no fact themselves but choose the reply's form — and
 * with it which facts can follow — before the key word comes, so the text prior picks them unless the key-word loss
 * falls on them too (`MiniVisionOptions.answerForm`).
 * - position: the preposition before the place ("on the" goes on only to left or right, "near / at the" to top or
 *   bottom, "in the" to the middle; round 21: without it the oracle read position at 40 %, the share of left/right).
 * - count: the verb ("There is one X." / "There are no | two | three X."), which picks one against any other number
 *   before the number word; the question "How many X are there?" holds "are", so a form word is a target even where
 *   the question has it (round 21: 9 of 18 oracle count errors were "There are no X." for one X).
 */
export const ANSWER_FORM_WORDS = {
  position: ['on', 'in', 'near', 'at'],
  count: ['is', 'are'],
} as const satisfies Readonly<Record<string, readonly string[]>>;
export type AnswerFormType = keyof typeof ANSWER_FORM_WORDS;
export const ANSWER_FORM_TYPES = Object.keys(ANSWER_FORM_WORDS) as AnswerFormType[];

/** The prepositions of position answers (`ANSWER_FORM_WORDS.position`; `--position-form` is `--answer-form position`). */
export const POSITION_FORM_WORDS: readonly string[] = ANSWER_FORM_WORDS.position;

/**
 * A flag's comma-separated question types, each one of `allowed` (`what` says which: "with answer-form words"), returned in
 * `allowed`'s order, each once; an unknown or empty list is a usage error naming it.
 */
function parseQuestionTypes<T extends string>(flagName: string, text: string, allowed: readonly T[], what: string): T[] {
  const given = text.split(',').map((t) => t.trim()).filter(Boolean);
  const unknown = given.filter((t) => !(allowed as readonly string[]).includes(t));
  if (unknown.length || given.length === 0) throw new UsageError(`${flagName} ${JSON.stringify(text)}: expected comma-separated question types ${what}, of ${allowed.join(', ')}${unknown.length ? ` (not ${unknown.map((t) => JSON.stringify(t)).join(', ')})` : ''}`);
  return allowed.filter((t) => given.includes(t));
}

/** `--answer-form TYPES`: comma-separated question types of `ANSWER_FORM_WORDS`, returned in the table's order, each once. */
export function parseAnswerForm(text: string): AnswerFormType[] {
  return parseQuestionTypes('--answer-form', text, ANSWER_FORM_TYPES, 'with answer-form words');
}

/** The answer-form token ids (`keyTokenIds` of `ANSWER_FORM_WORDS`) of each type in `types`. */
export function answerFormIds(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, types: readonly string[]): ReadonlyMap<string, ReadonlySet<number>> {
  const bad = types.filter((t) => !(ANSWER_FORM_TYPES as readonly string[]).includes(t));
  if (bad.length) throw new HerdError('invalid_argument', `trainMiniVision: answerForm: ${bad.map((t) => JSON.stringify(t)).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not a question type with answer-form words (${ANSWER_FORM_TYPES.join(', ')})`);
  return new Map(types.map((t) => [t, keyTokenIds(tok, core, ANSWER_FORM_WORDS[t as AnswerFormType])]));
}

/**
 * A key-word sequence's targets: `targets` (the reply's, -100 elsewhere) kept where they are key words (`keys`) the
 * question did not already hold (`asked`) or answer-form words of the question's type (`form`, kept even where the
 * question holds them: the form is the image's to choose), -100 everywhere else.
 */
export function keyWordTargets(targets: readonly number[], keys: ReadonlySet<number>, asked: ReadonlySet<number>, form?: ReadonlySet<number>): number[] {
  return targets.map((t) => ((keys.has(t) && !asked.has(t)) || form?.has(t) === true ? t : -100));
}

/**
 * The grid cells (column, row) of the object a key-word question names (the look loss's target, `AdapterSample.look`):
 * shape questions ask by place ("What is near the bottom?": that place's cell); colour, count and position questions by
 * shape ("How many hexagons are there?": the cells of the groups of that shape, none where it is absent); a word question
 * the written word's corner. Other types (size, existence, totals), or a question naming nothing found: none. The place and
 * shape words are read as the grader reads them (`sceneFacts`).
 */
export function lookCells(scene: SceneSpec, q: { readonly type: string; readonly question: string }): (readonly [number, number])[] {
  if (q.type === 'shape') return [...sceneFacts('position', q.question)].slice(0, 1).map((place) => SCENE_CELL[place]!);
  if (q.type === 'word') return scene.word ? [SCENE_CELL[scene.word.corner]!] : [];
  if (q.type !== 'colour' && q.type !== 'count' && q.type !== 'position') return [];
  const named = sceneFacts('shape', q.question);
  return scene.objects.filter((o) => named.has(o.shape)).map((o) => SCENE_CELL[o.position]!).filter((c) => c !== undefined);
}

/** The question types `lookCells` can mark (`MiniVisionOptions.lookTypes`). */
export const LOOK_TYPES = ['colour', 'shape', 'count', 'position', 'word'] as const;
export type LookType = (typeof LOOK_TYPES)[number];

/** `--look-types colour,shape,…` → the types in `LOOK_TYPES` order; an unknown or empty list is a usage error naming it. */
export function parseLookTypes(text: string): LookType[] {
  return parseQuestionTypes('--look-types', text, LOOK_TYPES, 'the look loss marks');
}

/**
 * One key-word sequence (`MiniVisionOptions.keyWordShare`): question `q` about `scene` and its reply, the loss on the reply's key
 * words the question does not hold (`keyWordTargets`; with `form`, also the type's answer-form words) and, with `look`, the
 * named object's cells (`lookCells`). The recipe's sequences and the look probe (bench/probes/vision-look-mass.mjs) are these.
 */
export function keyWordSample(tok: Llama3Tokenizer, core: LanguageCore, m: MllamaConfig, scene: SceneExample, q: SceneExample['qa'][number], keys: ReadonlySet<number>, seqLen: number, o: { readonly form?: ReadonlySet<number>; readonly look?: boolean } = {}): AdapterSample {
  const seq = qaSequence(tok, core, m, q.question, q.answer);
  const asked = new Set(seq.tokens.slice(0, seq.trainFrom));
  const z = toAdapterSample(scene.image, seq, seqLen);
  const k = questionKeyIds(tok, core, keys, q.type, scene.scene?.word?.text);
  return { ...z, targets: keyWordTargets(z.targets, k, asked, o.form), ...(o.look ? { look: lookCells(scene.scene!, q) } : {}) };
}

/**
 * A key-word sample with each object's ink repainted one random RGB colour (`recolourInk`, the dense stage's `ink` augment)
 * and the reply's colour words taken out of its targets: the colour the reply names is no longer the one shown, while its
 * shape, number and place still are (`MiniVisionOptions.keyWordRecolour`). Three rng draws per object.
 */
export function recolourKeyWordSample(sample: AdapterSample, scene: SceneSpec, v: Pick<VisionConfig, 'tileSize' | 'imageMean' | 'imageStd'>, colourIds: ReadonlySet<number>, rng: Rng): AdapterSample {
  return { ...sample, image: recolourInk(sample.image, v, scene, rng), targets: sample.targets.map((t) => (colourIds.has(t) ? -100 : t)) };
}

/**
 * A colour key-word sample about a scene of one object group with its objects redrawn as random polygons in their own colours
 * and "shape(s)" for the shape word in the question and reply (`reshapeObjects`, `reshapedQuestion`;
 * `MiniVisionOptions.keyWordReshape`); with `look`, the look loss marks the group's cell as for the question as asked.
 * A question of another type, or a scene of several groups, is an error naming it.
 */
export function reshapedKeyWordSample(tok: Llama3Tokenizer, core: LanguageCore, m: MllamaConfig, scene: SceneExample, q: SceneExample['qa'][number], keys: ReadonlySet<number>, seqLen: number, rng: Rng, o: { readonly form?: ReadonlySet<number>; readonly look?: boolean } = {}): AdapterSample {
  const spec = scene.scene;
  if (q.type !== 'colour' || spec?.objects.length !== 1) throw new HerdError('invalid_argument', `reshapedKeyWordSample: only a colour question about a scene of one object group is reshaped; got a ${q.type} question about a scene of ${spec?.objects.length ?? 'unknown'} groups ('${q.question}')`);
  const asked = { ...q, ...reshapedQuestion(q, spec.objects[0]!.shape) };
  const shown = keyWordSample(tok, core, m, { ...scene, image: reshapeObjects(scene.image, m.vision, spec, rng) }, asked, keys, seqLen, o.form ? { form: o.form } : {});
  return o.look ? { ...shown, look: lookCells(spec, q) } : shown;
}

/** How a key-word sequence picks its question (`MiniVisionOptions.keyWordDraw`). */
export const KEY_WORD_DRAWS = ['question', 'type'] as const;
export type KeyWordDraw = (typeof KEY_WORD_DRAWS)[number];

/**
 * Whether a QA pair states a fact the image shows: every pair but a word question about a scene without a written
 * word ("There is no word in the picture."). The eval asks only such pairs (`vqaItems`), the 'type' draw teaches them.
 */
export function showsFact(q: { readonly type: string; readonly answer: string }): boolean {
  return !(q.type === 'word' && /no word/u.test(q.answer));
}

/** The number words a count answer can state ("There are no X." is zero): `statedCount`'s table. */
const COUNT_WORDS: Readonly<Record<string, number>> = { zero: 0, no: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6 };

/**
 * The number a count answer states ("One." 1, "There are two stars." 2, "There are no squares." / "Zero." 0), or
 * undefined where it states none or more than one (the count key words of the grader, `gradeSceneQa`).
 */
export function statedCount(answer: string): number | undefined {
  const ns = new Set(answer.toLowerCase().split(/[^\p{L}\p{N}]+/u).flatMap((w) => (w in COUNT_WORDS ? [COUNT_WORDS[w]!] : [])));
  return ns.size === 1 ? [...ns][0] : undefined;
}

/** A scene's count question that states one number (`statedCount`). */
export interface CountQuestion {
  readonly scene: SceneExample;
  readonly q: SceneExample['qa'][number];
}

/** The scenes' count questions by the number they state, each scene's first of that number, in scene order (the balanced count draws of training and eval). */
export function countQuestionsByNumber(scenes: readonly SceneExample[]): Map<number, CountQuestion[]> {
  const out = new Map<number, CountQuestion[]>();
  for (const scene of scenes) {
    const seen = new Set<number>();
    for (const q of scene.qa) {
      const k = q.type === 'count' ? statedCount(q.answer) : undefined;
      if (k === undefined || seen.has(k)) continue;
      seen.add(k);
      out.set(k, [...(out.get(k) ?? []), { scene, q }]);
    }
  }
  return out;
}

/** The synthetic world's QA types (the keys of `MiniVisionOptions.keyWordWeights`). */
export const SCENE_QA_TYPES = ['colour', 'shape', 'count', 'position', 'word', 'exists', 'size', 'total'] as const;

/**
 * The key-word sequence's scene and question, drawn as `draw` says (`MiniVisionOptions.keyWordDraw`): given the scene
 * drawn from `pool`, the phase's `types` (undefined: `allTypes`, the training scenes' types) and the batch's rng.
 * 'question' keeps the drawn scene and picks one of its questions of the types (any question if it has none);
 * 'type' picks a type among those some scene of the pool states a visible fact of — uniformly, or in proportion to
 * `weights` (a type not named weighs 1; 0 leaves it out) — then keeps the scene if it has such a question of that
 * type, else re-draws it from the pool's scenes that do.
 * `countBalance` (`MiniVisionOptions.keyWordCountBalance`): a count question so drawn is replaced by one of a number drawn
 * uniformly from those the pool's count questions state (0–3 in the world), then a scene of the pool with such a question
 * and its first one — count keeps its share of the draw, its numbers get equal shares (the world's are ~38 % zero, ~46 %
 * one, ~11 % two, ~5 % three). Off: the draws and the rng's use are as before, byte for byte.
 */
export function keyWordQuestionDrawer(draw: KeyWordDraw, allTypes: readonly string[], weights?: Readonly<Record<string, number>>, countBalance = false) {
  if (!KEY_WORD_DRAWS.includes(draw)) throw new HerdError('invalid_argument', `trainMiniVision: keyWordDraw must be one of ${KEY_WORD_DRAWS.join(', ')}, got ${JSON.stringify(draw)}`);
  if (weights !== undefined && draw !== 'type') throw new HerdError('invalid_argument', "trainMiniVision: keyWordWeights weigh the types of keyWordDraw 'type'; set it too");
  const badWeight = Object.entries(weights ?? {}).filter(([, w]) => !(Number.isFinite(w) && w >= 0));
  if (badWeight.length) throw new HerdError('invalid_argument', `trainMiniVision: keyWordWeights must be numbers ≥ 0, got ${badWeight.map(([t, w]) => `${t}=${w}`).join(', ')}`);
  const weightOf = (t: string) => weights?.[t] ?? 1;
  const withFact = new Map<readonly SceneExample[], Map<string, SceneExample[]>>(); // per pool and type
  const scenesWithFact = (pool: readonly SceneExample[], type: string): SceneExample[] => {
    if (!withFact.has(pool)) withFact.set(pool, new Map());
    const byType = withFact.get(pool)!;
    if (!byType.has(type)) byType.set(type, pool.filter((s) => s.qa.some((q) => q.type === type && showsFact(q))));
    return byType.get(type)!;
  };
  type Drawn = CountQuestion;
  const countsOf = new Map<readonly SceneExample[], Drawn[][]>(); // per pool: its count questions by number, ascending
  const byNumber = (pool: readonly SceneExample[]): Drawn[][] => {
    if (!countsOf.has(pool)) countsOf.set(pool, [...countQuestionsByNumber(pool).entries()].sort((a, b) => a[0] - b[0]).map(([, xs]) => xs));
    return countsOf.get(pool)!;
  };
  const balanced = (d: Drawn, rng: Rng, pool: readonly SceneExample[]): Drawn => (countBalance && d.q.type === 'count' && byNumber(pool).length > 0 ? rng.pick(rng.pick(byNumber(pool))) : d);
  return (s: SceneExample, rng: Rng, types: readonly string[] | undefined, pool: readonly SceneExample[]): Drawn => {
    if (draw === 'question') {
      const typed = types ? s.qa.filter((x) => types.includes(x.type)) : s.qa;
      return balanced({ scene: s, q: rng.pick(typed.length > 0 ? typed : s.qa) }, rng, pool);
    }
    const offered = (types ?? allTypes).filter((t) => scenesWithFact(pool, t).length > 0 && weightOf(t) > 0);
    if (offered.length === 0) throw new HerdError('invalid_argument', `trainMiniVision: keyWordDraw 'type': no scene of the stage has a question of the types ${(types ?? allTypes).join(', ')} that states a visible fact${weights ? ' (and a weight above 0)' : ''}`);
    const t = weights === undefined ? rng.pick(offered) : weightedPick(offered, offered.map(weightOf), rng); // unweighted: round 21's draws exactly
    const scene = s.qa.some((q) => q.type === t && showsFact(q)) ? s : rng.pick(scenesWithFact(pool, t));
    return balanced({ scene, q: rng.pick(scene.qa.filter((q) => q.type === t && showsFact(q))) }, rng, pool);
  };
}

/** `--key-word-weights TYPE=N,…`: relative weights 0–20 of `SCENE_QA_TYPES` in the type draw (herd vision train's flag and the oracle's). */
export const KEY_WORD_WEIGHTS_FLAG = flag.counts(SCENE_QA_TYPES, { placeholder: 'TYPE=N,…', min: 0, max: 20 });

/** `--key-word-weights`' value read outside herd's command line (the oracle): `KEY_WORD_WEIGHTS_FLAG`'s rules and messages. */
export function parseKeyWordWeights(text: string): Partial<Record<(typeof SCENE_QA_TYPES)[number], number>> {
  return parseCounts('key-word-weights', KEY_WORD_WEIGHTS_FLAG, text);
}

/** One of `items`, with chance in proportion to `weights` (one rng draw). */
function weightedPick<T>(items: readonly T[], weights: readonly number[], rng: Rng): T {
  let x = rng.next() * weights.reduce((a, b) => a + b, 0);
  for (const [i, item] of items.entries()) if ((x -= weights[i]!) < 0) return item;
  return items[items.length - 1]!;
}

/** QA types whose answers stay true of the zoomed crop of a single-object scene (not position, not the corner word). */
const ZOOM_QA_TYPES = new Set(['colour', 'shape', 'count', 'exists', 'size', 'total']);

/**
 * Clean English scene images of an images dataset (`@herd/datasets` layout), decoded and tiled.
 * Noisy samples are skipped (curation is a later stage); an unreadable sample is an error.
 */
/**
 * The scenes of an images dataset of the synthetic world, decoded and tiled. Samples the generator
 * labelled as noise (`meta.noise`) or whose caption is not English are skipped, unless `labelledNoise`
 * is set — then they are read like any other (the uncurated baseline of a curated-vs-raw comparison:
 * the labels are ground truth a real dataset does not have) and images that do not decode are skipped
 * and counted in `skipped` (a truncated file), as a loader without curation must.
 */
export async function readSceneExamples(dir: string, m: Pick<MllamaConfig, 'vision'>, o: { split?: 'train' | 'heldout'; limit?: number; zoom?: boolean; labelledNoise?: boolean; skipped?: { undecodable: number } } = {}): Promise<SceneExample[]> {
  const out: SceneExample[] = [];
  for await (const s of iterateDataset(dir)) {
    if (isUnreadable(s)) throw new HerdError('io_error', `${dir}: unreadable sample ${JSON.stringify(s)}`);
    const meta = s.meta as Record<string, unknown>;
    if (!o.labelledNoise && (meta['noise'] !== null || meta['language'] !== 'en')) continue;
    if (o.split && meta['split'] !== o.split) continue;
    const bytes = s.files['png'] ?? s.files['jpg'];
    const txt = s.files['txt'];
    if (!bytes || !txt) continue;
    let img: Awaited<ReturnType<typeof decodeImage>>;
    try {
      img = await decodeImage(bytes, { name: s.key });
    } catch (e) {
      if (!o.labelledNoise) throw e;
      if (o.skipped) o.skipped.undecodable++;
      continue;
    }
    const qa = (meta['qa'] ?? []) as SceneExample['qa'];
    const objects = ((meta['scene'] as { objects?: { position: string }[] } | undefined)?.objects ?? []);
    const cell = objects.length === 1 ? SCENE_CELL[objects[0]!.position] : undefined;
    const zoomQa = qa.filter((q) => ZOOM_QA_TYPES.has(q.type));
    out.push({
      key: s.key,
      split: meta['split'] as 'train' | 'heldout',
      image: tileImage(img, m.vision),
      caption: new TextDecoder().decode(txt),
      qa,
      ...(meta['scene'] ? { scene: meta['scene'] as SceneSpec } : {}),
      ...(o.zoom && cell && zoomQa.length ? { zoom: tileImage(cropToCell(img, cell), m.vision) } : {}),
      ...(o.labelledNoise ? { noise: (meta['noise'] ?? null) as string | null } : {}),
    });
    if (o.limit !== undefined && out.length >= o.limit) break;
  }
  return out;
}



/** Full Llama 3 ids → the core's compact ids; `<|image|>` → the adapter's learnable image id. */
export function toVisionIds(core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, full: readonly number[]): number[] {
  const compact = core.vocab ? Array.from(core.vocab.toCompact(full)) : [...full];
  return compact.map((t, i) => (full[i] === IMAGE_TOKEN_ID ? m.imageTokenId : t));
}

/** The chat prompt of a question about one image (the image first, as Llama 3.2 Vision is used). */
export function imageQuestionIds(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, question: string, images = 1): number[] {
  const content = [...Array.from({ length: images }, () => ({ type: 'image' as const })), { type: 'text' as const, text: question }];
  return toVisionIds(core, m, tok.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true }));
}

/** Stage-1 sequence: image, caption, end of text; loss on the caption and its end. */
export function captionSequence(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, caption: string): { tokens: number[]; trainFrom: number } {
  const full = [...tok.encode('', { bos: true }), IMAGE_TOKEN_ID, ...tok.encodeOrdinary(caption), END_OF_TEXT_ID];
  return { tokens: toVisionIds(core, m, full), trainFrom: 2 };
}

/** Stage-2 sequence: the chat prompt with the image, the reply and `<|eot_id|>`; loss on the reply. */
export function qaSequence(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, question: string, answer: string): { tokens: number[]; trainFrom: number } {
  const turns = [{ role: 'user' as const, content: [{ type: 'image' as const }, { type: 'text' as const, text: question }] }, { role: 'assistant' as const, content: answer }];
  const prompt = tok.encodeChat(turns.slice(0, 1), { addGenerationPrompt: true });
  const full = tok.encodeChat(turns, { addGenerationPrompt: false });
  return { tokens: toVisionIds(core, m, full), trainFrom: prompt.length };
}

/**
 * Several QA turns about one image in one chat (the image in the first user turn): loss on every
 * reply and its `<|eot_id|>` (`trainSpans`, [start, end) token ranges), so one sequence carries as
 * many answers as fit — the image is encoded once for all of them. Turns that would pass `maxTokens`
 * are left out (at least the first is kept).
 */
export function qaDialogueSequence(
  tok: Llama3Tokenizer,
  core: Pick<LanguageCore, 'vocab'>,
  m: MllamaConfig,
  pairs: readonly { readonly question: string; readonly answer: string }[],
  maxTokens = Infinity,
): { tokens: number[]; trainFrom: number; trainSpans: [number, number][] } {
  type Turn = { role: 'user' | 'assistant'; content: string | ({ type: 'image' } | { type: 'text'; text: string })[] };
  const turns: Turn[] = [];
  const spans: [number, number][] = [];
  let full: number[] = [];
  for (const [k, q] of pairs.entries()) {
    const next: Turn[] = [...turns, { role: 'user', content: k === 0 ? [{ type: 'image' }, { type: 'text', text: q.question }] : q.question }];
    const start = tok.encodeChat(next, { addGenerationPrompt: true }).length;
    next.push({ role: 'assistant', content: q.answer });
    const ids = tok.encodeChat(next, { addGenerationPrompt: false });
    if (k > 0 && ids.length > maxTokens) break;
    turns.splice(0, turns.length, ...next);
    spans.push([start, ids.length]);
    full = ids;
  }
  return { tokens: toVisionIds(core, m, full), trainFrom: spans[0]![0], trainSpans: spans };
}

/**
 * Pads/cuts to T: targets are the next token from `trainFrom` on, or inside `trainSpans` where given
 * (−100 elsewhere and on padding).
 */
export function toAdapterSample(image: TiledImage, seq: { tokens: number[]; trainFrom: number; trainSpans?: readonly (readonly [number, number])[] }, seqLen: number): AdapterSample {
  const tokens = seq.tokens.slice(0, seqLen);
  const targets = new Array<number>(seqLen).fill(-100);
  for (const [a, b] of seq.trainSpans ?? [[seq.trainFrom, tokens.length]]) {
    for (let i = Math.max(0, a - 1); i + 1 < Math.min(b, tokens.length); i++) targets[i] = tokens[i + 1]!;
  }
  while (tokens.length < seqLen) tokens.push(0);
  return { image, tokens, targets };
}

/** A training stage of the recipe: which sequences, how many steps (the learning rate re-warms per stage). */
export type MiniVisionStage = 'clip' | 'dense' | 'caption' | 'qa-zoom' | 'qa-single' | 'qa';

export interface MiniVisionOptions {
  readonly core: LanguageCore;
  readonly tokenizer: Llama3Tokenizer;
  /** The image encoder's config (default the `mini` preset); the scenes must be tiled for it. */
  readonly vision?: VisionConfig;
  /** Training scenes (train split). */
  readonly scenes: readonly SceneExample[];
  /**
   * Stage 0: contrastive (CLIP) pre-training steps of the encoder on the training scenes' captions
   * (default 0: the encoder starts from `init` or fresh). The paper's encoder is pre-trained this
   * way before the adapter; at the mini size it is what makes the encoder separate scenes (measured:
   * an encoder trained only through the adapter stays at the blind model's loss).
   */
  readonly clipSteps?: number;
  /** Stage 0 batch (pairs per InfoNCE step; default 32) and peak learning rate (default 2e-3). */
  readonly clipBatch?: number;
  readonly clipLr?: number;
  /**
   * Stage 0, as the mini herd runs it: DENSE pre-training steps of the encoder on the training scenes'
   * ground truth (`trainDenseEncoder`: per-patch cell / colour / shape / count / word labels from the
   * scene spec, so `SceneExample.scene` is needed) — a stand-in for CLIP, not in the paper; default 0.
   * Measured: it makes the objects' shapes linearly readable from their patches, which neither a fresh
   * encoder nor one trained through the language loss gave (see /work/notes/vsee3.md).
   */
  readonly denseSteps?: number;
  /** Dense stage batch (images per step; default 32) and peak learning rate (default 3e-3). */
  readonly denseBatch?: number;
  readonly denseLr?: number;
  /** Dense stage: weight of the object heads (shape / count from each object's mean ink feature; `DenseTrainOptions.objectWeight`, default 0). */
  readonly denseObjectWeight?: number;
  /**
   * Keep the encoder (and its projector) as stage 0 left it during the adapter stages: only the group
   * `vision.adapter` trains (default false: both train, as §7.3 does).
   */
  readonly freezeEncoder?: boolean;
  /**
   * With `freezeEncoder`: the projector (`vision.projector`) still trains with the adapter, so the frozen
   * ViT's features are mapped to the core's width by a trained map instead of its random init (default false).
   */
  readonly trainProjector?: boolean;
  /**
   * With `freezeEncoder` and `trainProjector`: the projector stays at its fresh init through every stage
   * before QA phase K (1-based, the phases of `keyWordTypes`) and trains from that phase on (default 1: in
   * every stage). E.g. phases [colour], [all types] with K = 2: the adapter first learns to read colour
   * through an untrained linear map of the frozen features, which cannot have learnt a colour × shape
   * conjunction, before the projector adapts to the other types.
   */
  readonly trainProjectorFromPhase?: number;
  /**
   * With `freezeEncoder`: the encoder's gated global layer(s) (`vision.encoder.global`) still train with the
   * adapter, the layers before them stay frozen — room for the language loss to re-bind the frozen features
   * (e.g. a colour to the shape it belongs to) without unlearning the dense stage's local features (default false).
   */
  readonly trainEncoderGlobal?: boolean;
  /**
   * Starting value of the cross-attention q/k RMSNorm gains of a fresh adapter (default 1). A gain g
   * multiplies the attention logits by g² at the start: the attention can leave uniform sooner.
   */
  readonly qkGain?: number;
  /**
   * The core layers (0-based) the gated cross-attention layers run before (default `MINI_CROSS_BEFORE`, 1 and
   * 3): one cross layer before each. Stored in the checkpoint (`crossAttentionLayers`), so load and eval follow.
   */
  readonly crossBefore?: readonly number[];
  /**
   * G: learned row / column place embeddings on a G×G grid added to the projected image tokens (`MllamaConfig.placeBins`;
   * default 0: none). They train with the adapter in every stage. Stored in the checkpoint.
   */
  readonly placeEmbeddings?: number;
  /**
   * Standard deviation of the fresh place tables' values (default `MINI_PLACE_INIT`; 0: zero init, the run starts exactly
   * at the model without them). Ignored with `init` holding the tables.
   */
  readonly placeInit?: number;
  /** Stage 1: caption pre-training steps. */
  readonly captionSteps: number;
  /**
   * Stage 1b (curriculum): QA steps on single-object scenes zoomed to the object's cell (`SceneExample.zoom`,
   * questions whose answers stay true of the crop), default 0. At the mini size an object covers ~2 % of
   * the canvas; measured: the adapter then learns only a constant (text-prior) injection — var/mean² of
   * its output across images 7e-5 after 200 QA steps — while a large object (~20 %) is learnt in 150 steps.
   */
  readonly zoomSteps?: number;
  /**
   * Stage 2a (curriculum): QA steps on single-object scenes only, where the question cannot be
   * answered by binding the wrong object (default 0).
   */
  readonly singleSteps?: number;
  /** Stage 2b: QA steps on all scenes. */
  readonly qaSteps: number;
  /**
   * Share of the QA stages' sequences (2a, 2b) that hold ONE question with the loss on the reply's key words
   * (colour, shape, number, size, yes/no, place; `keyTokenIds`; a word question's written word, `questionKeyIds`) that the question does not contain — the
   * facts only the image can give; the rest are dialogues with the loss on every reply (default 0).
   * Measured with a dense-pretrained frozen encoder: with whole replies (or all key words of dialogues,
   * which include the shape word the question already names) the adapter again learned only the
   * answers' templates and priors (held-out row = its blind control to the percent).
   */
  readonly keyWordShare?: number;
  /**
   * The QA types the key-word sequences draw their question from (default: any of the scene's). Lets a
   * run spend the key-word loss on the facts the encoder makes visible (measured: colour and place
   * stand out in the dense-pretrained encoder, shape does not). Several lists make a CURRICULUM: the QA
   * stage (2b) runs as that many consecutive phases (steps split evenly, learning rate re-warmed each),
   * phase i asking about the types of list i — e.g. [colour], [colour, shape], [colour, shape, count]
   * adds one type at a time with colour kept in the mix.
   */
  readonly keyWordTypes?: readonly (readonly string[])[];
  /**
   * How a key-word sequence picks its question: 'question' (default) draws a scene, then one of its questions of the
   * phase's types, so a type is asked as often as scenes carry it (the written word is read in ~3 % of them: 29 % of
   * scenes have a word, one word question each); 'type' draws the type first, uniformly from the phase's types (default:
   * every type of the training scenes), then a question of that type that states a visible fact (`showsFact`), re-drawing
   * the scene from those that have one — each type then gets the same share of the key-word loss.
   */
  readonly keyWordDraw?: KeyWordDraw;
  /**
   * With keyWordDraw 'type': each type's relative weight in the type draw (a type not named weighs 1, 0 leaves it out),
   * e.g. { count: 3, colour: 2, shape: 2, position: 2, word: 1 } keeps count's ~30 % share of the 'question' draw and
   * still reads the word in ~10 % of the key-word sequences (round 21: the equal draw lifted the word 0 → 22 % on the
   * oracle but cost count 82 → 64 %). Default: equal.
   */
  readonly keyWordWeights?: Readonly<Record<string, number>>;
  /**
   * A key-word sequence that asks a count question asks one of a number drawn uniformly from those the stage's scenes'
   * count questions state (round 24: the world's are ~38 % zero, ~46 % one, ~11 % two, ~5 % three; `keyWordQuestionDrawer`).
   * Default off.
   */
  readonly keyWordCountBalance?: boolean;
  /**
   * Share (0–1) of the key-word sequences NOT about colour in which each object's ink is repainted one random RGB colour
   * and the reply's colour words are no targets (`recolourKeyWordSample`; default 0: none, and no rng draw). The world
   * never shows a held-out pair (green triangle, …), so "green" tells the adapter "not a triangle"; recoloured shapes
   * teach it to read the shape apart from the colour, as the committed encoder's `ink` augment does for its heads.
   * A random RGB colour can look like a held-out pair's colour; its name is never a label.
   */
  readonly keyWordRecolour?: number;
  /**
   * Share (0–1) of the colour key-word sequences about scenes of ONE object group shown with each object redrawn as a random
   * polygon in its own colour, the question and reply saying "shape(s)" for its shape (`reshapedKeyWordSample`; default 0:
   * none, and no rng draw): a colour read where no shape can stand in for it. Every colour misnamed on held-out scenes is a
   * held-out pair named as a seen pair of its shape would be (round 42); the world never shows a held-out pair, and a shape
   * it does not have, new for every sample, shows none either.
   */
  readonly keyWordReshape?: number;
  /**
   * A silhouette stream (`MllamaConfig.silhouetteLayers`): a second cross-attention layer before each scheduled core layer reads
   * the silhouette's tokens (`inkSilhouette` through the same encoder and its own projector). Both streams train on every
   * sequence. Measured (round 32): routing the shape words away from the image layers (gradient stopped per stream, three
   * rules) made the streams a two-player game that did not converge; trained together, seven seeds (round 33): mean 47.1
   * against the line's 45.6, shape 39.7 against 35.1 (not beyond seed noise). Default off. Stored in the checkpoint.
   */
  readonly silhouetteStream?: boolean;
  /**
   * With a silhouette stream: the share (0–1) of the key-word sequences not about colour in which the image stream is shut
   * (`AdapterSample.shut`: its layers add nothing to the sequence and get no gradient from it), so the silhouette stream
   * answers them alone (default 0: none, and no rng draw). Colour questions and dialogues keep both streams.
   */
  readonly imageStreamDropout?: number;
  /**
   * Weight of the look loss (`lookLoss`) beside the answer loss in the QA stages (default 0: not built): in every key-word
   * sequence whose question names an object of the scene (`lookCells`), each cross-attention layer's attention at the
   * reply's target rows is trained onto that object's grid cell. Needs keyWordShare and each scene's spec.
   */
  readonly lookWeight?: number;
  /**
   * With lookWeight: the question types whose key-word sequences the look loss marks (default every one `lookCells` can:
   * `LOOK_TYPES`); a sequence of another type trains on its answer alone.
   */
  readonly lookTypes?: readonly string[];
  /**
   * Question types whose key-word loss also falls on their answer-form words (`ANSWER_FORM_WORDS`: position's
   * preposition, count's is / are), default none: the words that choose the reply's form before its key word.
   */
  readonly answerForm?: readonly string[];
  readonly batch?: number;
  readonly seqLen?: number;
  readonly lr?: number;
  readonly seed?: number;
  /**
   * Starting value of the cross-attention gates (attention and FFN) of a fresh adapter. The paper
   * starts them at 0; at this budget a zero gate sits at a saddle (the gate gets a gradient of random
   * sign and the weights behind it none, measured: after 150 steps |g| < 0.01 and the loss equals a
   * blind adapter's), so the recipe's default opens them a little. 0 reproduces the paper's init.
   */
  readonly gateInit?: number;
  /** Starting values of the vision groups (default: fresh, gates at `gateInit`). */
  readonly init?: VisionWeights;
  /**
   * Checkpoint selection in the LAST stage that runs (the QA stage; its last phase with a curriculum):
   * every `every` steps and at its end `score` grades the vision values (encoder + projector + adapter;
   * higher is better) and the stage ends with the best-scoring step's values (`trainAdapter`'s `select`).
   */
  readonly select?: { readonly every: number; readonly score: (weights: VisionWeights, step: number) => Promise<number> };
  /**
   * A folder for per-step logs, one JSON-lines file per QA/caption stage (`<stage>[-phase].jsonl`: loss, learning rate,
   * gradient norm and the step's metrics, e.g. `lmLoss` and `lookMass` with the look loss); default none.
   */
  readonly stepLogDir?: string;
  /** Where every stage's ONNX sessions run (CLIP, dense, the adapter stages); resolved by the app (default DEFAULT_DEVICE). */
  readonly device?: Device;
  readonly log?: (line: string) => void;
}

export interface MiniVisionResult {
  readonly config: MllamaConfig;
  /** Encoder + adapter values (f32). */
  readonly weights: Record<string, HostTensor>;
  /** Loss of every step, by stage. */
  readonly losses: Readonly<Record<MiniVisionStage, readonly number[]>>;
  /** With `select`: the kept step of the last stage and every graded step's score. */
  readonly selected?: AdapterSelected;
  readonly seconds: number;
}

/** Default starting value of the cross-attention gates (see `MiniVisionOptions.gateInit`). */
export const MINI_GATE_INIT = 0.5;

/**
 * Default standard deviation of fresh place tables (`placeInit`), measured (docs/research-log.md, Vision, round 24). Round 23's
 * fixed place code (N(0, 0.5²) on 128 encoder-output values) goes through the projector, so it grows with it: ~0.11 per core value
 * through the fresh projector (weights rms 0.02), ~0.43 through a trained one (the committed projector: weights rms 0.076, its
 * tokens rms 3.4) — about 0.13 of the tokens. A table is not scaled by the projector: at 0.1 (the fresh-projector match) it ended
 * at the controls' left/right-only answers in 2 of 2 seeds, at 0.4 (the trained-projector match) top/bottom/centre items rose
 * above the controls in each seed run (see the log). Small random, not zero: zero starts exactly at the control, whose answers
 * never leave left/right.
 */
export const MINI_PLACE_INIT = 0.4;

/**
 * Fresh encoder + adapter values with the cross-attention gates at `gate` and the q/k RMSNorm gains at `qkGain`; place tables
 * (if the model has them) N(0, placeInit²) from their own generator, so every other value is the same as without them.
 */
export function freshMiniVision(m: MllamaConfig, seed: number, gate: number, qkGain = 1, placeInit = MINI_PLACE_INIT): VisionWeights {
  const place = freshPlaceTables(m, seed, placeInit);
  const init = G.initParams([...encoderParamSpecs(m.vision), ...adapterParamSpecs(m).filter((s) => !isPlaceParam(s.name))], seed, { layers: m.vision.nLayers });
  Object.assign(init, place);
  for (const c of m.crossAttentionLayers) {
    for (const g of ['cross_attn_attn_gate', 'cross_attn_mlp_gate']) (init[`${crossLayerPrefix(c)}.${g}`]!.data as Float32Array).fill(gate);
    for (const n of ['q_norm', 'k_norm']) (init[`${crossLayerPrefix(c)}.cross_attn.${n}.weight`]!.data as Float32Array).fill(qkGain);
  }
  return init;
}

/** Fresh place tables of `m` (none without place embeddings): N(0, placeInit²) from their own generator (seed-derived), zeros at 0. */
export function freshPlaceTables(m: MllamaConfig, seed: number, placeInit = MINI_PLACE_INIT): VisionWeights {
  if (!(placeInit >= 0 && Number.isFinite(placeInit))) throw new HerdError('invalid_argument', `freshMiniVision: placeInit must be a finite number ≥ 0, got ${placeInit}`);
  return G.initParams(placeParamSpecs(m).map((s) => ({ ...s, init: placeInit === 0 ? ('zeros' as const) : { normal: placeInit } })), seed * 7_919 + 13);
}

/**
 * Drops the QA pairs whose reply the core cannot spell: a pruned vocabulary maps every token it lacks to
 * one unknown id, so training on such a reply teaches the adapter to answer "unknown" (e.g. a bare
 * "red" at the start of a reply is a different token from " red", and the mini core may lack it).
 */
export function dropUnspellableAnswers(tok: Llama3Tokenizer, core: Pick<LanguageCore, 'vocab'>, m: MllamaConfig, scenes: readonly SceneExample[]): { scenes: SceneExample[]; dropped: string[] } {
  const unknown = core.vocab?.unknown;
  const dropped: string[] = [];
  if (unknown === undefined) return { scenes: [...scenes], dropped };
  const out = scenes.map((s) => {
    const qa = s.qa.filter((q) => {
      const seq = qaSequence(tok, core, m, q.question, q.answer);
      const ok = !seq.tokens.slice(seq.trainFrom).includes(unknown);
      if (!ok) dropped.push(q.answer);
      return ok;
    });
    return qa.length === s.qa.length ? s : { ...s, qa };
  });
  return { scenes: out.filter((s) => s.qa.length > 0), dropped };
}

const isSingleObject = (s: SceneExample) => s.qa.filter((q) => q.type === 'colour').length === 1;

/**
 * Trains the mini encoder + adapter in stages through llama3's shared `trainAdapter` (core frozen;
 * groups `vision.encoder` and `vision.adapter` train), each stage a call with the previous stage's
 * values as its start and a cosine schedule re-warmed from zero. Batches come from the scenes in
 * memory (decoded and tiled once), a pure function of (seed, stage, batch index).
 */
export async function trainMiniVision(o: MiniVisionOptions): Promise<MiniVisionResult> {
  const t0 = performance.now();
  const m = miniVisionConfig(o.core.config, o.vision, o.crossBefore, o.placeEmbeddings ?? 0, o.silhouetteStream ?? false);
  const device = o.device ?? DEFAULT_DEVICE;
  const B = o.batch ?? 16;
  const T = o.seqLen ?? 48;
  const peak = o.lr ?? 2e-3;
  const seed = o.seed ?? 1;
  let scenes = o.scenes.filter((s) => s.split === 'train');
  if (scenes.length === 0) throw new HerdError('invalid_argument', 'trainMiniVision: no train-split scenes given');
  if (o.keyWordTypes) {
    // A misspelt type would silently leave the key-word sequences with no question to ask.
    const present = new Set(scenes.flatMap((s) => s.qa.map((q) => q.type)));
    const unknown = [...new Set(o.keyWordTypes.flat())].filter((t) => !present.has(t));
    if (unknown.length) throw new HerdError('invalid_argument', `trainMiniVision: keyWordTypes ${unknown.map((t) => `'${t}'`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a QA type of the training scenes (they have: ${[...present].sort().join(', ')})`);
  }
  const spellable = dropUnspellableAnswers(o.tokenizer, o.core, m, scenes);
  if (spellable.dropped.length) o.log?.(`dropped ${spellable.dropped.length} QA pairs whose reply has a token outside the core's vocabulary (e.g. ${spellable.dropped.slice(0, 3).map((a) => JSON.stringify(a)).join(', ')})`);
  scenes = spellable.scenes;
  const singles = scenes.filter(isSingleObject);
  // The QA stage as curriculum phases (one per key-word type list; one phase without lists).
  const phases: (readonly string[] | undefined)[] = o.keyWordTypes?.length ? [...o.keyWordTypes] : [undefined];
  const phaseSteps = (i: number) => Math.floor(o.qaSteps / phases.length) + (i < o.qaSteps % phases.length ? 1 : 0);
  const stages: { name: MiniVisionStage; steps: number; pool: readonly SceneExample[]; types?: readonly string[] | undefined; phase?: number }[] = [
    { name: 'caption', steps: o.captionSteps, pool: scenes },
    { name: 'qa-zoom', steps: o.zoomSteps ?? 0, pool: scenes.filter((s) => s.zoom !== undefined && s.qa.some((q) => ZOOM_QA_TYPES.has(q.type))) },
    { name: 'qa-single', steps: o.singleSteps ?? 0, pool: singles, types: phases[0] },
    ...phases.map((types, i) => ({ name: 'qa' as const, steps: phaseSteps(i), pool: scenes, types, phase: i + 1 })),
  ];
  const projectorFrom = o.trainProjectorFromPhase ?? 1;
  if (!Number.isInteger(projectorFrom) || projectorFrom < 1 || projectorFrom > phases.length) throw new HerdError('invalid_argument', `trainMiniVision: trainProjectorFromPhase must be a QA phase, an integer from 1 to ${phases.length} (the keyWordTypes phases), got ${projectorFrom}`);
  if (projectorFrom > 1 && !(o.freezeEncoder && o.trainProjector)) throw new HerdError('invalid_argument', 'trainMiniVision: trainProjectorFromPhase delays the projector of a frozen encoder: set freezeEncoder and trainProjector too');
  const keys = keyTokenIds(o.tokenizer, o.core);
  // The key-word image edits (each object's ink found from the scene's spec): a share of the key-word sequences, so both needed.
  const imageEditShare = (name: 'keyWordRecolour' | 'keyWordReshape', verb: string): number => {
    const share = o[name] ?? 0;
    if (!(share >= 0 && share <= 1)) throw new HerdError('invalid_argument', `trainMiniVision: ${name} must be a share from 0 to 1, got ${share}`);
    if (share > 0 && !((o.keyWordShare ?? 0) > 0)) throw new HerdError('invalid_argument', `trainMiniVision: ${name} ${verb} key-word sequences: set keyWordShare above 0 too`);
    if (share > 0 && scenes.some((s) => s.scene === undefined)) throw new HerdError('invalid_argument', `trainMiniVision: ${name} needs each training scene's spec (SceneExample.scene) to find its objects' ink`);
    return share;
  };
  const recolourShare = imageEditShare('keyWordRecolour', 'recolours');
  const reshapeShare = imageEditShare('keyWordReshape', 'reshapes');
  const imageDropout = o.imageStreamDropout ?? 0;
  if (!(imageDropout >= 0 && imageDropout <= 1)) throw new HerdError('invalid_argument', `trainMiniVision: imageStreamDropout must be a share from 0 to 1, got ${imageDropout}`);
  if (imageDropout > 0 && !o.silhouetteStream) throw new HerdError('invalid_argument', 'trainMiniVision: imageStreamDropout shuts the image stream so the silhouette stream answers alone: set silhouetteStream too');
  if (imageDropout > 0 && !((o.keyWordShare ?? 0) > 0)) throw new HerdError('invalid_argument', 'trainMiniVision: imageStreamDropout applies to key-word sequences: set keyWordShare above 0 too');
  const lookWeight = o.lookWeight ?? 0;
  if (!(lookWeight >= 0 && Number.isFinite(lookWeight))) throw new HerdError('invalid_argument', `trainMiniVision: lookWeight must be a finite number ≥ 0, got ${lookWeight}`);
  if (lookWeight > 0 && !((o.keyWordShare ?? 0) > 0)) throw new HerdError('invalid_argument', 'trainMiniVision: the look loss trains the key-word sequences\' rows: set keyWordShare above 0 too');
  if (lookWeight > 0 && scenes.some((s) => s.scene === undefined)) throw new HerdError('invalid_argument', 'trainMiniVision: the look loss needs each training scene\'s spec (SceneExample.scene) to find the named object');
  const badLook = (o.lookTypes ?? []).filter((t) => !(LOOK_TYPES as readonly string[]).includes(t));
  if (badLook.length) throw new HerdError('invalid_argument', `trainMiniVision: lookTypes: ${badLook.map((t) => JSON.stringify(t)).join(', ')} ${badLook.length === 1 ? 'is' : 'are'} not a question type the look loss marks (${LOOK_TYPES.join(', ')})`);
  if (o.lookTypes !== undefined && !(lookWeight > 0)) throw new HerdError('invalid_argument', 'trainMiniVision: lookTypes says which sequences the look loss marks: set lookWeight above 0 too');
  const lookTypes: ReadonlySet<string> = new Set(o.lookTypes ?? LOOK_TYPES);
  const colourIds = keyTokenIds(o.tokenizer, o.core, COLOUR_WORDS);
  const answerForm = answerFormIds(o.tokenizer, o.core, o.answerForm ?? []);
  const keyWordQuestion = keyWordQuestionDrawer(o.keyWordDraw ?? 'question', [...new Set(scenes.flatMap((s) => s.qa.map((q) => q.type)))].sort(), o.keyWordWeights, o.keyWordCountBalance ?? false);
  const sample = (stage: MiniVisionStage, s: SceneExample, rng: Rng, types: readonly string[] | undefined, pool: readonly SceneExample[]): AdapterSample => {
    if (stage === 'caption') return toAdapterSample(s.image, captionSequence(o.tokenizer, o.core, m, s.caption), T);
    // As many of the scene's QA pairs (in random order) as fit in T: one image, several answers.
    if (stage === 'qa-zoom') {
      // Loss on the key words only: no answer template to learn, so the adapter can lower this loss only by
      // looking (with the whole reply as the loss it learns a constant, image-independent injection first).
      const z = toAdapterSample(s.zoom!, qaDialogueSequence(o.tokenizer, o.core, m, rng.shuffle(s.qa.filter((q) => ZOOM_QA_TYPES.has(q.type))), T), T);
      return { ...z, targets: z.targets.map((t) => (keys.has(t) ? t : -100)) };
    }
    if ((o.keyWordShare ?? 0) > 0 && rng.next() < o.keyWordShare!) {
      // One question; the loss on the reply's key words that the question does not already contain
      // ("The triangle is green." → "green"): the facts only the image can give (and with answerForm the words that pick the reply's form).
      const { scene, q } = keyWordQuestion(s, rng, types, pool);
      const form = answerForm.get(q.type);
      const reshaped = reshapeShare > 0 && q.type === 'colour' && scene.scene!.objects.length === 1 && rng.next() < reshapeShare;
      const opts = { ...(form ? { form } : {}), look: lookWeight > 0 && lookTypes.has(q.type) };
      const keyed = reshaped ? reshapedKeyWordSample(o.tokenizer, o.core, m, scene, q, keys, T, rng, opts) : keyWordSample(o.tokenizer, o.core, m, scene, q, keys, T, opts);
      // Each draw is made only when its option is on, so runs without them are unchanged to the bit.
      const shown = recolourShare > 0 && q.type !== 'colour' && rng.next() < recolourShare ? recolourKeyWordSample(keyed, scene.scene!, m.vision, colourIds, rng) : keyed;
      return imageDropout > 0 && q.type !== 'colour' && rng.next() < imageDropout ? { ...shown, shut: ['image'] } : shown;
    }
    return toAdapterSample(s.image, qaDialogueSequence(o.tokenizer, o.core, m, rng.shuffle([...s.qa]), T), T);
  };
  // Scenes whose images carry given encoder features (the vision oracle) train without the encoder in the graph.
  const given = scenes.filter((s) => s.image.features !== undefined).length;
  if (given !== 0 && given !== scenes.length) throw new HerdError('invalid_argument', `trainMiniVision: ${given} of ${scenes.length} training scenes carry given encoder features (the oracle's); all or none must`);
  const source = given ? 'features' : 'pixels';
  if (source === 'features' && ((o.clipSteps ?? 0) > 0 || (o.denseSteps ?? 0) > 0)) throw new HerdError('invalid_argument', 'trainMiniVision: scenes with given encoder features have no encoder to pre-train (clipSteps / denseSteps must be 0)');
  const look = lookWeight > 0;
  const spec = { config: m.text, extension: visionTrainingExtension(m, 'meta', source, look) };
  let values: Record<string, HostTensor> = Object.fromEntries(Object.entries(o.init ?? freshMiniVision(m, seed, o.gateInit ?? MINI_GATE_INIT, o.qkGain ?? 1, o.placeInit ?? MINI_PLACE_INIT)).map(([k, v]) => [k, hostTensor('f32', v.shape, Float32Array.from(v.data as Float32Array))]));
  const losses: Record<MiniVisionStage, number[]> = { clip: [], dense: [], caption: [], 'qa-zoom': [], 'qa-single': [], qa: [] };
  if ((o.clipSteps ?? 0) > 0) {
    // Stage 0 (§7.2): CLIP on the same training scenes; its image tower is the encoder (same config).
    const steps = o.clipSteps!;
    const clip = await trainMiniClip(scenes.map((s) => ({ image: s.image, caption: s.caption })), {
      steps, batch: o.clipBatch ?? 32, lr: o.clipLr ?? 2e-3, seed, config: (v) => ({ ...miniClipConfig(v), vision: m.vision }), session: { device },
      onStep: (s, loss) => { if (s % 50 === 0) o.log?.(`clip: step ${s}/${steps} loss ${loss.toFixed(3)}`); },
    });
    for (const spec of encoderParamSpecs(m.vision)) values[spec.name] = hostTensor('f32', spec.shape, Float32Array.from(clip.params[spec.name]!.data as Float32Array));
    losses.clip = clip.losses;
    o.log?.(`clip: ${steps} steps, loss ${clip.losses[0]!.toFixed(3)} → ${mean(clip.losses.slice(-10)).toFixed(3)} (mean of the last 10; chance ln ${o.clipBatch ?? 32} = ${Math.log(o.clipBatch ?? 32).toFixed(3)})`);
  }
  if ((o.denseSteps ?? 0) > 0) {
    // Stage 0 (the mini herd's stand-in for CLIP): dense labels from the scene specs train the encoder.
    const steps = o.denseSteps!;
    const missing = scenes.filter((s) => s.scene === undefined).length;
    if (missing > 0) throw new HerdError('invalid_argument', `trainMiniVision: the dense stage needs each scene's spec (SceneExample.scene); ${missing} of ${scenes.length} training scenes have none (metadata without 'scene')`);
    const encoderStart = Object.fromEntries(encoderParamSpecs(m.vision).map((spec) => [spec.name, { dtype: 'f32' as const, shape: [...spec.shape], data: values[spec.name]!.data as Float32Array }]));
    const dense = await trainDenseEncoder(m.vision, scenes.map((s) => ({ image: s.image, scene: s.scene! })), {
      steps, batch: o.denseBatch ?? 32, lr: o.denseLr ?? 3e-3, seed, init: encoderStart, objectWeight: o.denseObjectWeight ?? 0, session: { device },
      onStep: (s, loss) => { if (s % 50 === 0) o.log?.(`dense: step ${s}/${steps} loss ${loss.toFixed(3)}`); },
    });
    for (const spec of encoderParamSpecs(m.vision)) values[spec.name] = hostTensor('f32', spec.shape, dense.encoder[spec.name]!.data as Float32Array);
    losses.dense = dense.losses;
    o.log?.(`dense: ${steps} steps, loss ${dense.losses[0]!.toFixed(3)} → ${mean(dense.losses.slice(-10)).toFixed(3)} (mean of the last 10)`);
  }
  if (o.trainEncoderGlobal && !o.freezeEncoder) throw new HerdError('invalid_argument', 'trainMiniVision: trainEncoderGlobal trains the global layers of a frozen encoder: set freezeEncoder too (without it the whole encoder trains)');
  if (o.trainEncoderGlobal && (source === 'features' || m.vision.nGlobalLayers === 0)) throw new HerdError('invalid_argument', `trainMiniVision: trainEncoderGlobal: ${source === 'features' ? 'these scenes carry given encoder features (no encoder in the graph)' : 'this encoder has no global layers'}`);
  const encoderGroups = source === 'features' ? [] : !o.freezeEncoder ? ENCODER_GROUPS : o.trainEncoderGlobal ? [ENCODER_GLOBAL_GROUP] : [];
  const projectorTrains = (st: { phase?: number }) => !(o.freezeEncoder && !o.trainProjector) && (projectorFrom === 1 || (st.phase ?? 0) >= projectorFrom);
  const lastStage = stages.reduce((last, st, i) => (st.steps > 0 ? i : last), -1);
  let selected: AdapterSelected | undefined;
  for (const [si, st] of stages.entries()) {
    if (st.steps === 0) continue;
    // The frozen values at this stage's start + the run's trained ones: the whole vision model the scorer grades.
    const frozenVision = values;
    const select = o.select && si === lastStage ? { every: o.select.every, score: (trained: Readonly<Record<string, HostTensor>>, step: number) => o.select!.score({ ...frozenVision, ...trained }, step) } : undefined;
    if (st.pool.length === 0) throw new HerdError('invalid_argument', `trainMiniVision: stage ${st.name} has no scenes to draw from`);
    const source = {
      batchSize: B,
      batch: (index: number) => {
        if (index % 20 === 0) o.log?.(`${st.name}: batch ${index}/${st.steps}`);
        const rng = new Rng(seed * 1_000_003 + si * 7_919 + index);
        return adapterBatch(m, Array.from({ length: B }, () => sample(st.name, rng.pick(st.pool), rng, st.types, st.pool)), T, look);
      },
    };
    const r = await trainAdapter({
      spec, train: [...encoderGroups, ...(projectorTrains(st) ? [PROJECTOR_GROUP] : []), ...(placeBinsOf(m) > 0 ? [PLACE_GROUP] : []), ADAPTER_GROUP], weights: { ...o.core.weights, ...values }, modelDir: o.core.dir, seed, batch: B, seqLen: T, steps: st.steps,
      schedule: { kind: 'cosine', peak, warmup: Math.round(st.steps * 0.06), total: st.steps, floor: 0.1 * peak },
      optimizer: { weightDecay: 0.01 }, data: { source }, device, label: `vision ${st.name}`, ...(select ? { select } : {}), ...(look ? { auxiliaryWeight: lookWeight } : {}), ...(o.stepLogDir ? { logPath: join(o.stepLogDir, `${st.name}${st.phase && phases.length > 1 ? `-${st.phase}` : ''}.jsonl`) } : {}),
    });
    values = { ...values, ...r.trained }; // a frozen encoder is not among the trained values
    if (r.selected) {
      selected = r.selected;
      o.log?.(`${st.name}: kept step ${r.selected.step} of ${st.steps} (score ${r.selected.score.toFixed(3)}; ${r.selected.curve.map((c) => `${c.step}: ${c.score.toFixed(3)}`).join(', ')})`);
    }
    const l = [...r.losses.values()];
    losses[st.name] = [...losses[st.name], ...l];
    o.log?.(`${st.name}${st.types ? ` (${st.types.join(', ')})` : ''}${projectorTrains(st) || (o.freezeEncoder && !o.trainProjector) ? '' : ' [projector frozen]'}: ${st.steps} steps, loss ${l[0]!.toFixed(3)} → ${mean(l.slice(-10)).toFixed(3)} (mean of the last 10)`);
  }
  return { config: m, weights: values, losses, ...(selected ? { selected } : {}), seconds: (performance.now() - t0) / 1000 };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
