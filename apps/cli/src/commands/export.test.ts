/**
 * `herd export` round trip: the written files are reloaded from disk (onnxruntime-node through
 * `@herd/runtime`), fed only as the manifest says, and must give herd's own generation path's
 * answers: token-exact greedy text, image, spoken-question and clip answers, logits close. One
 * composed decoder serves every modality; the ones a call does not use get their recipe's idle feeds.
 * It has two sets of image layers: the vision checkpoint's answer images (`xattn.*`, as
 * `herd generate --image` with packages/vision/weights/mini), the video model's own image checkpoint's
 * read clips (`video.image.xattn.*`, as `herd generate --video`); the manifest records which is which.
 * (The mini speech/video checkpoints do not perceive yet: parity is asserted, not correctness.)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summariseOnnx } from '@herd/graph';
import {
  EOT_ID,
  END_OF_TEXT_ID,
  type ExportManifest,
  Generator,
  type TokenizerJson,
  buildDecoder,
  loadLanguageCore,
  loadLlama3Tokenizer,
  readExportGraph,
  readExportManifest,
} from '@herd/llama3';
import { decodeF16, encodeF16 } from '@herd/core';
import { decodeAudio } from '@herd/media';
import { type HostTensor, Session, hostTensor } from '@herd/runtime';
import { LogMel, audioTokens, ctcHeadOf, ctcPosteriors, ctcRows, featureFeeds, loadMiniSpeech, miniSpeechGenerator, speechPromptLayout } from '@herd/speech';
import { MINI_VIDEO_DIR, VIDEO_IMAGE_PREFIX, VideoGenerator, imageCheckpointSha, loadMiniVideo, packClip, readClipFrames, videoImageDir } from '@herd/video';
import { MINI_VISION_DIR, type TiledImage, VisionGenerator, crossAttentionMaskRows, imageIntervals, imageQuestionIds, loadMiniVision, preprocessImage, recipePlaceInputs } from '@herd/vision';
import { runCli } from '../cli.js';

const SCENE = new URL('../../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url).pathname;
const QUESTIONS = ['Where is the red ball?', 'How many squares are there?', 'What colour is the circle?'];
const SPEECH_FIXTURES = new URL('../../../../packages/speech/fixtures/heldout-speech/', import.meta.url).pathname;
const CLIP = new URL('../../../chat/fixtures/heldout-clips/vid-00000012.mp4', import.meta.url).pathname;

const DTYPES = { f32: Float32Array, i32: Int32Array, bool: Uint8Array } as const;

/** The decoder inputs of every modality not in `used`, filled with its recipe's idle value (the manifest alone says how). */
function idleFeeds(m: ExportManifest, used: readonly string[], T: number): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const [name, mod] of Object.entries(m.modalities)) {
    if (used.includes(name)) continue;
    for (const [input, value] of Object.entries((mod.recipe as { idle: Record<string, number | boolean> }).idle)) {
      const spec = m.decoder.inputs.find((i) => i.name === input)!;
      // Other symbolic dims (how many image, video or audio rows) idle at 1, as run_export.py and the page do.
      const dims = spec.shape.map((d) => (d === 'B' ? 1 : d === 'T' ? T : typeof d === 'string' ? 1 : d));
      const dtype = spec.dtype as keyof typeof DTYPES;
      out[input] = hostTensor(dtype, dims, new DTYPES[dtype](dims.reduce((a, b) => a * b, 1)).fill(Number(value)));
    }
  }
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  return { io: { stdout, stderr, stdin: new PassThrough() }, text: () => ({ out, err }) };
}

describe('herd export', () => {
  let dir: string;
  let manifest: ExportManifest;
  const core = loadLanguageCore();
  const vision = loadMiniVision(MINI_VISION_DIR, core);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herd-export-'));
    const o = io();
    const code = await runCli(['export', '--out', join(dir, 'mini')], {}, o.io);
    expect(o.text().err).toBe(''); // two image models, nothing set aside: no note
    expect(code).toBe(0);
    manifest = readExportManifest(join(dir, 'mini'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes ONNX files + a manifest naming every input/output with its dtype and shape, standard ONNX operators only', () => {
    expect(manifest.decoder.file).toBe('decoder.onnx');
    const names = manifest.decoder.inputs.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['tokens', 'positions', 'mask', 'lastIndex', 'past.k.0', 'xattn.k.0', 'xattn.mask', 'learnableIds']));
    expect(manifest.decoder.inputs.find((i) => i.name === 'xattn.k.0')).toEqual({ name: 'xattn.k.0', dtype: 'f32', shape: ['B', core.config.nKvHeads, 'S', core.config.headDim] });
    expect(manifest.decoder.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['logits', 'present.k.0', 'present.v.3']));
    const enc = manifest.modalities['vision']!.graphs['encoder']!;
    // The committed vision checkpoint has place embeddings: its encoder also takes each token's row / column bin.
    expect(enc.inputs.map((i) => `${i.name}:${i.dtype}[${i.shape.join(',')}]`)).toEqual(['pixels:f32[1,4,3,48,48]', 'aspectRatioIds:i32[1]', 'tileMask:bool[1,4]', 'placeRow:i32[1,4,37]', 'placeCol:i32[1,4,37]']);
    // Speech: log-mel → adapter frames (own graph), spliced in the decoder; video: frames → features → aggregator (own graphs), cross-attention in the decoder.
    const sp = manifest.modalities['speech']!;
    expect(sp.graphs['encoder']!.inputs.map((i) => `${i.name}:${i.dtype}`)).toEqual(['features:f32', 'featureValid:bool']);
    expect(sp.graphs['encoder']!.outputs.map((o) => o.name)).toEqual(['speech.frames', 'speech.ctc']); // the mini checkpoint has its CTC head
    const vid = manifest.modalities['video']!;
    expect(Object.keys(vid.graphs).sort()).toEqual(['aggregator', 'frames']);
    expect(vid.graphs['aggregator']!.outputs.map((o) => o.name)).toEqual(['video.tokens']);
    expect(names).toEqual(expect.arrayContaining(['speech.frames', 'audioIndex', 'video.tokens', 'video.mask']));
    // Two sets of image layers, recorded: the vision checkpoint's serve images, the video model's own image checkpoint's its clips.
    expect(imageCheckpointSha(videoImageDir())).not.toBe(imageCheckpointSha(MINI_VISION_DIR));
    expect(manifest.modalities['vision']!.recipe).toMatchObject({ serves: 'images', source: { weightsSha256: imageCheckpointSha(MINI_VISION_DIR) }, decoderInputs: { keys: 'xattn.k.{adapterLayer}', mask: 'xattn.mask', learnableIds: 'learnableIds' } });
    expect(vid.recipe['image']).toMatchObject({ serves: 'clips', source: { weightsSha256: imageCheckpointSha(videoImageDir()) }, decoderInputs: { keys: `${VIDEO_IMAGE_PREFIX}xattn.k.{adapterLayer}`, mask: `${VIDEO_IMAGE_PREFIX}xattn.mask`, learnableIds: `${VIDEO_IMAGE_PREFIX}learnableIds` } });
    expect(names).toEqual(expect.arrayContaining([`${VIDEO_IMAGE_PREFIX}xattn.k.0`, `${VIDEO_IMAGE_PREFIX}xattn.mask`, `${VIDEO_IMAGE_PREFIX}learnableIds`]));
    expect(manifest.decoder.inputs.find((i) => i.name === `${VIDEO_IMAGE_PREFIX}xattn.k.0`)!.shape).toEqual(['B', core.config.nKvHeads, 'SC', core.config.headDim]);
    expect(vid.graphs['frames']!.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['features', `${VIDEO_IMAGE_PREFIX}xattn.k.0`, `${VIDEO_IMAGE_PREFIX}xattn.v.0`]));
    expect(readdirSync(join(dir, 'mini')).sort()).toEqual(['README.md', 'decoder.onnx', 'manifest.json', 'run_export.py', 'speech.encoder.onnx', 'tokenizer.json', 'video.aggregator.onnx', 'video.frames.onnx', 'vision.encoder.onnx']);
    const graphs = [manifest.decoder, ...Object.values(manifest.modalities).flatMap((x) => Object.values(x.graphs))];
    expect(graphs).toHaveLength(5);
    // The folder explains itself: every graph in the README's table.
    const readme = readFileSync(join(dir, 'mini', 'README.md'), 'utf8');
    for (const g of graphs) expect(readme).toContain(`| \`${g.file}\` |`);
    for (const g of graphs) {
      const s = summariseOnnx(new Uint8Array(readFileSync(join(dir, 'mini', g.file))));
      expect(s.operators.filter((o) => o.domain !== '')).toEqual([]);
      expect(s.externalInitializers).toBe(0);
      expect(s.opsetImports).toEqual([{ domain: '', version: 18 }]);
    }
    const tok = JSON.parse(readFileSync(join(dir, 'mini', manifest.tokenizer.file), 'utf8')) as TokenizerJson;
    expect(tok.bpe.length).toBe(128_000);
    expect(tok.pruned?.ids.length).toBe(core.config.vocabSize);
    expect(manifest.tokenizer.stopIds).toEqual(Array.from(core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID])));
  });

  it('refuses to overwrite an existing folder unless told to', async () => {
    const o = io();
    expect(await runCli(['export', '--out', join(dir, 'mini'), '--text-only'], {}, o.io)).toBe(1);
    expect(o.text().err).toMatch(/already exists.*--overwrite/);
    expect(readExportManifest(join(dir, 'mini')).modalities['vision']).toBeDefined();
  });

  it('an --out whose folder cannot be written fails naming it, before any graph is built', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const o = io();
    expect(await runCli(['export', '--out', join(blocker, 'x'), '--model', join(dir, 'no-such-core')], {}, o.io)).toBe(1);
    // The core folder is missing too: had the graphs been built first, the error would be about it.
    expect(o.text().err).toMatch(/^herd: io_error: export: cannot write .*a-file\/x: .*a-file is a file, not a folder/);
  });

  it('--only picks the modalities (video alone brings its own image layers); unknown names and --only with --text-only are refused', async () => {
    const o = io();
    expect(await runCli(['export', '--out', join(dir, 'vision-only'), '--only', 'vision'], {}, o.io)).toBe(0);
    expect(Object.keys(readExportManifest(join(dir, 'vision-only')).modalities)).toEqual(['vision']);
    expect(readExportManifest(join(dir, 'vision-only')).decoder.inputs.map((i) => i.name)).not.toContain('audioIndex');
    expect(await runCli(['export', '--out', join(dir, 'video-only'), '--only', 'video'], {}, o.io)).toBe(0);
    const videoOnly = readExportManifest(join(dir, 'video-only'));
    expect(Object.keys(videoOnly.modalities)).toEqual(['video']);
    expect(videoOnly.decoder.inputs.map((i) => i.name)).toEqual(expect.arrayContaining([`${VIDEO_IMAGE_PREFIX}xattn.k.0`, 'video.tokens']));
    expect(videoOnly.decoder.inputs.map((i) => i.name)).not.toContain('xattn.k.0');
    for (const [args, want] of [
      [['--only', 'vision,sound'], /unknown modality 'sound'/],
      [['--only', 'vision', '--text-only'], /exclude each other/],
    ] as const) {
      const bad = io();
      expect(await runCli(['export', '--out', join(dir, 'never'), ...args], {}, bad.io)).toBe(2);
      expect(bad.text().err).toMatch(want);
    }
  }, 60_000);

  it('herd text export writes the core alone: no vision inputs, the same greedy answers as the core', async () => {
    const o = io();
    const out = join(dir, 'nested', 'text'); // its folder is missing: the write creates it, as the check said it could
    expect(await runCli(['text', 'export', '--out', out], {}, o.io)).toBe(0);
    const m = readExportManifest(out);
    expect(m.modalities).toEqual({});
    expect(m.decoder.inputs.map((i) => i.name).filter((n) => n.startsWith('xattn') || n === 'learnableIds')).toEqual([]);
    const tok = await loadLlama3Tokenizer();
    const prompt = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: QUESTIONS[0]! }], { addGenerationPrompt: true })));
    const sampling = { maxNewTokens: 16, stopTokens: m.tokenizer.stopIds };
    const reloaded = await Generator.create(core.config, readExportGraph(out, m.decoder));
    const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    try {
      const ids = await reloaded.complete(prompt, sampling);
      expect(ids.length).toBeGreaterThan(2);
      expect(ids).toEqual(await plain.complete(prompt, sampling));
    } finally {
      await reloaded.release();
      await plain.release();
    }
  }, 60_000);

  it('the reloaded files answer exactly as herd does: text-only and image questions, greedy, logits close', async () => {
    const tok = await loadLlama3Tokenizer();
    const cfg = core.config;
    const recipe = manifest.modalities['vision']!.recipe as { tokensPerImage: number; tokensPerTile: number; maxTiles: number; adapterLayers: number; kvHeads: number; headDim: number; imageTokenId: number; preprocess: { tileSize: number; placeBins?: number; patchSize?: number } };
    const encoder = await Session.create(readExportGraph(join(dir, 'mini'), manifest.modalities['vision']!.graphs['encoder']!), {}, 'export_encoder');
    const herd = VisionGenerator.create(vision.config, core.weights, vision.weights, {});
    const plainCore = await Generator.create(cfg, buildDecoder(cfg, core.weights));
    const sampling = { maxNewTokens: 24, stopTokens: manifest.tokenizer.stopIds };
    try {
      // Feeds built from the manifest's recipe alone (the decoder's vision inputs at every call).
      const feedsFor = (prompt: readonly number[], kv: Record<string, HostTensor> | undefined, nTiles: readonly number[]) => {
        const S = kv ? recipe.tokensPerImage * nTiles.length : 1;
        const zero: Record<string, HostTensor> = {};
        for (let j = 0; j < recipe.adapterLayers; j++) {
          zero[`xattn.k.${j}`] = hostTensor('f32', [1, recipe.kvHeads, 1, recipe.headDim]);
          zero[`xattn.v.${j}`] = hostTensor('f32', [1, recipe.kvHeads, 1, recipe.headDim]);
        }
        const intervals = imageIntervals(prompt, recipe.imageTokenId);
        return (start: number, count: number) => ({
          ...idleFeeds(manifest, ['vision'], count),
          ...(kv ?? zero),
          'xattn.mask': hostTensor('bool', [1, 1, count, S], kv ? crossAttentionMaskRows(intervals, { nTiles, maxTiles: recipe.maxTiles, tokensPerTile: recipe.tokensPerTile }, start, count) : new Uint8Array(count * S)),
          learnableIds: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => ((prompt[start + i] ?? 0) >= cfg.vocabSize ? prompt[start + i]! - cfg.vocabSize : -1))),
        });
      };
      const coreTokens = (p: readonly number[]) => p.map((t) => (t >= cfg.vocabSize ? 0 : t));
      const exported = async (prompt: number[], kv: Record<string, HostTensor> | undefined, nTiles: readonly number[]) => {
        const g = await Generator.create(cfg, readExportGraph(join(dir, 'mini'), manifest.decoder), {}, feedsFor(prompt, kv, nTiles));
        try {
          return { ids: await g.complete(coreTokens(prompt), sampling), logits: (await g.logits(coreTokens(prompt).slice(0, 12))).at(-1)! };
        } finally {
          await g.release();
        }
      };
      for (const q of QUESTIONS) {
        const prompt = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true })));
        const mine = await exported(prompt, undefined, []);
        expect(mine.ids.length).toBeGreaterThan(2);
        expect(mine.ids).toEqual(await herd.complete(prompt, [], sampling));
        expect(mine.ids).toEqual(await plainCore.complete(prompt, sampling));
        const ref = (await plainCore.logits(prompt.slice(0, 12))).at(-1)!;
        expect(Math.max(...ref.map((v, i) => Math.abs(v - mine.logits[i]!)))).toBeLessThan(1e-4);
      }
      const image: TiledImage = await preprocessImage(SCENE, vision.config.vision);
      // The committed vision checkpoint has place embeddings: the recipe's place inputs.
      const places = recipePlaceInputs(image, recipe);
      expect(places).toBeDefined();
      const kv = await encoder.run({
        pixels: hostTensor('f32', [1, recipe.maxTiles, 3, vision.config.vision.tileSize, vision.config.vision.tileSize], image.pixels),
        aspectRatioIds: hostTensor('i32', [1], [image.aspectRatioId]),
        tileMask: hostTensor('bool', [1, recipe.maxTiles], image.aspectRatioMask),
        placeRow: hostTensor('i32', places!.dims, places!.placeRow),
        placeCol: hostTensor('i32', places!.dims, places!.placeCol),
      });
      for (const q of ['What colour is the shape?', 'How many shapes are there?']) {
        const prompt = imageQuestionIds(tok, core, vision.config, q, 1);
        const mine = await exported(prompt, kv, [image.nTiles]);
        expect(mine.ids.length).toBeGreaterThan(1);
        expect(mine.ids).toEqual(await herd.complete(prompt, [image], sampling));
        const ref = (await herd.logits(prompt.slice(0, 12), [image])).at(-1)!;
        expect(Math.max(...ref.map((v, i) => Math.abs(v - mine.logits[i]!)))).toBeLessThan(1e-4);
      }
    } finally {
      await encoder.release();
      await herd.release();
      await plainCore.release();
    }
  }, 180_000);

  it('a held-out spoken question through the exported speech encoder + decoder answers as SpeechGenerator does', async () => {
    const tok = await loadLlama3Tokenizer();
    const s = loadMiniSpeech(undefined, core);
    const recipe = manifest.modalities['speech']!.recipe as { maxFrames: number; adapterFrames: number; codes: { keep: number } };
    expect(recipe.maxFrames).toBe(s.maxFrames);
    const item = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string; context?: string }[]).find((i) => i.task === 'question')!;
    const f = new LogMel().compute((await decodeAudio(`${SPEECH_FIXTURES}${item.file}`, { sampleRate: 16000 })).samples);
    const audio = { features: f.data, frames: f.frames };
    const layout = speechPromptLayout(tok, core, { before: item.context!, after: '' }, audioTokens(s.model.encoder, audio.frames));
    const encoder = await Session.create(readExportGraph(join(dir, 'mini'), manifest.modalities['speech']!.graphs['encoder']!), {}, 'export_speech');
    const herd = await miniSpeechGenerator(s);
    try {
      const ff = featureFeeds(s.model.encoder, [audio], recipe.maxFrames);
      const encoded = await encoder.run({ features: ff.features, featureValid: ff.featureValid });
      const frames = encoded['speech.frames']!;
      expect(frames.shape).toEqual([1, recipe.adapterFrames, core.config.dim]);
      // The CTC head's log posteriors of the utterance's frames: what joint decoding in process scores with.
      const A = audioTokens(s.model.encoder, audio.frames);
      const exported = ctcRows(encoded['speech.ctc']!, A);
      const inProcess = await ctcPosteriors(herd, core, ctcHeadOf(s.weights)!, audio);
      expect([exported.frames, exported.classes]).toEqual([inProcess.frames, core.config.vocabSize + 1]);
      expect(maxDiff(exported.logp.map(Math.exp), inProcess.logp.map(Math.exp))).toBeLessThan(1e-4); // probabilities: far-off classes' log posteriors are large and noisy
      const feeds = (start: number, count: number) => ({
        ...idleFeeds(manifest, ['speech'], count),
        'speech.frames': frames,
        audioIndex: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => layout.codes[start + i] ?? recipe.codes.keep)),
      });
      const g = await Generator.create(core.config, readExportGraph(join(dir, 'mini'), manifest.decoder), {}, feeds);
      try {
        const sampling = { maxNewTokens: 16, stopTokens: manifest.tokenizer.stopIds };
        const mine = await g.complete(layout.ids, sampling);
        expect(mine.length).toBeGreaterThan(0);
        expect(mine).toEqual(await herd.complete(layout, audio, sampling));
        expect(maxDiff((await g.logits(layout.ids)).at(-1)!, (await herd.logits(layout, audio)).at(-1)!)).toBeLessThan(1e-4);
      } finally {
        await g.release();
      }
    } finally {
      await encoder.release();
      await herd.release();
    }
  }, 180_000);

  it('a held-out clip through the exported frame graph, aggregator and decoder answers as VideoGenerator does', async () => {
    const tok = await loadLlama3Tokenizer();
    const v = loadMiniVideo(undefined, undefined, core); // on its own image checkpoint, as `herd generate --video`
    expect(v.vision.dir).toBe(videoImageDir());
    const clipSampling = v.config.video.finetune;
    const recipe = manifest.modalities['video']!.recipe as { frames: number; tokensPerFrame: number; tokensPerTile: number; videoTokens: number; imageTokenId: number; frameLayout?: 'canvas'; image: { decoderInputs: { mask: string; learnableIds: string } } };
    expect(recipe.frames).toBe(clipSampling.frames);
    expect(recipe.frameLayout).toBe(v.config.video.frameLayout); // the committed checkpoint's tiles lie on each clip's canvas (round 39)
    const read = (role: string) => Session.create(readExportGraph(join(dir, 'mini'), manifest.modalities['video']!.graphs[role]!), {}, `export_video_${role}`);
    const framesGraph = await read('frames');
    const aggregator = await read('aggregator');
    const herd = VideoGenerator.create(v.config, clipSampling, core.weights, v.vision.weights, v.weights);
    try {
      const clip = await readClipFrames(CLIP, v.config.image, recipe.frames);
      const packed = packClip(clip, v.config.image);
      const { maxTiles: N, tileSize: T } = v.config.image.vision;
      const out = await framesGraph.run({
        pixels: hostTensor('f32', [recipe.frames, N, 3, T, T], packed.pixels),
        aspectRatioIds: hostTensor('i32', [recipe.frames], packed.aspectRatioIds),
        tileMask: hostTensor('bool', [recipe.frames, N], packed.aspectRatioMask),
      });
      const S = recipe.tokensPerFrame;
      const D = core.config.dim;
      const nTiles = clip.frames[0]!.nTiles;
      const frameMask = new Uint8Array(S).fill(1, 0, nTiles * recipe.tokensPerTile);
      // The recipe's f16 round trip of the features (herd caches them in f16).
      const features = decodeF16(encodeF16(out['features']!.data as Float32Array));
      // The recipe: with frameLayout 'canvas' the aggregator also takes the clip's aspect-ratio id.
      const canvas: Record<string, HostTensor> = recipe.frameLayout === 'canvas' ? { 'video.aspectRatioId': hostTensor('i32', [1], [clip.frames[0]!.aspectRatioId]) } : {};
      const tokens = (await aggregator.run({ 'video.frames': hostTensor('f32', [1, recipe.frames, S, D], features), 'video.frameMask': hostTensor('bool', [1, S], frameMask), ...canvas }))['video.tokens']!;
      const ctx = await herd.contextOfFrames(clip);
      expect(maxDiff(tokens.data as Float32Array, ctx.tokens.data as Float32Array)).toBeLessThan(1e-4);
      const kv = Object.fromEntries(Object.entries(out).filter(([n]) => n.startsWith(`${VIDEO_IMAGE_PREFIX}xattn.`)));
      expect(Object.keys(kv)).toHaveLength(2 * v.config.image.crossAttentionLayers.length);
      const question = 'Which way does the blue star move?';
      const prompt = imageQuestionIds(tok, core, v.config.image, question);
      const intervals = imageIntervals(prompt, recipe.imageTokenId);
      const vocab = core.config.vocabSize;
      const feeds = (start: number, count: number) => {
        const rows = crossAttentionMaskRows(intervals, { nTiles: [nTiles], maxTiles: N, tokensPerTile: recipe.tokensPerTile }, start, count);
        const vm = new Uint8Array(count * recipe.videoTokens);
        for (let r = 0; r < count; r++) if (rows.subarray(r * S, (r + 1) * S).some((x) => x)) vm.fill(1, r * recipe.videoTokens, (r + 1) * recipe.videoTokens);
        return {
          ...idleFeeds(manifest, ['video'], count), // the vision layers idle: the clip is read by the video's own
          ...kv,
          [recipe.image.decoderInputs.mask]: hostTensor('bool', [1, 1, count, S], rows),
          [recipe.image.decoderInputs.learnableIds]: hostTensor('i32', [1, count], Int32Array.from({ length: count }, (_, i) => ((prompt[start + i] ?? 0) >= vocab ? prompt[start + i]! - vocab : -1))),
          'video.tokens': tokens,
          'video.mask': hostTensor('bool', [1, 1, count, recipe.videoTokens], vm),
        };
      };
      const g = await Generator.create(core.config, readExportGraph(join(dir, 'mini'), manifest.decoder), {}, feeds);
      try {
        const sampling = { maxNewTokens: 16, stopTokens: manifest.tokenizer.stopIds };
        const coreTokens = prompt.map((t) => (t >= vocab ? 0 : t));
        const mine = await g.complete(coreTokens, sampling);
        expect(mine.length).toBeGreaterThan(0);
        expect(mine).toEqual(await herd.complete(prompt, ctx, sampling));
        expect(maxDiff((await g.logits(coreTokens)).at(-1)!, (await herd.logits(prompt, ctx)).at(-1)!)).toBeLessThan(1e-4);
      } finally {
        await g.release();
      }
    } finally {
      await framesGraph.release();
      await aggregator.release();
      await herd.release();
    }
  }, 180_000);
});
