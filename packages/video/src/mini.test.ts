/**
 * The committed mini video checkpoint: only video-group tensors (f16); it was trained on the committed
 * image checkpoint (recorded sha256 matches) and loads onto it and the core; a text-only prompt gives the core's logits bit for bit with the video layers
 * attached (the frozen core is untouched); and its recorded eval has the three rows.
 */
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@herd/core';
import { hostTensor } from '@herd/runtime';
import { Generator, buildDecoder, loadLlama3Tokenizer } from '@herd/llama3';
import { MINI_VISION_DIR, MINI_VISION_FILES } from '@herd/vision';
import { MINI_VIDEO_DIR, MINI_VIDEO_FILES, MINI_VIDEO_IMAGE_DIR, frameFeaturesSha, imageCheckpointSha, loadMiniVideo, recordedImageDir, saveMiniVideo, videoImageDir } from './mini.js';
import { VideoGenerator } from './model/generate.js';
import { frameTokens, videoParamSpecs } from './model/graphs.js';
import { type VideoExample } from './data/features.js';
import { LOOKUP_DIRECTIONS, lookTarget, lookupTarget, miniVideoConfig, recipeSequences, trainMiniVideo, type VideoLookLoss } from './train/mini.js';
import { objectTokensPerGroup } from './data/object-places.js';
import { VIDEO_LOOK_ROWS, VIDEO_LOOK_TOKENS } from './model/graphs.js';
import { effectiveFrames, videoTokenCount } from './config.js';
import { videoBatch } from './train/batch.js';

describe('mini video checkpoint', () => {
  it('holds only the video group (f16) and loads onto the committed image model and core', () => {
    const v = loadMiniVideo();
    // Trained on the committed image checkpoint (its sha256 recorded in config.json): no mismatch warning at load.
    expect(v.imageMatches).toBe(true);
    const file = SafetensorsFile.open(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.weights));
    expect(file.names().sort()).toEqual(videoParamSpecs(v.config).map((s) => s.name).sort());
    expect(file.names().every((n) => n.startsWith('video.'))).toBe(true);
    expect(new Set(file.infos().map((i) => i.dtype))).toEqual(new Set(['F16']));
    const report = JSON.parse(readFileSync(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.eval), 'utf8')) as { accuracy: Record<string, unknown> };
    expect(Object.keys(report.accuracy).sort()).toEqual(['core', 'image', 'video']);
  });

  it('frame features: the digest of the encoder + projector is recorded; a re-fitted image adapter keeps it, a changed encoder or projector does not', () => {
    const stored = JSON.parse(readFileSync(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.config), 'utf8')) as { image: { frameFeaturesSha256: string } };
    expect(stored.image.frameFeaturesSha256).toBe(frameFeaturesSha(videoImageDir()));
    expect(loadMiniVideo().framesMatch).toBe(true);
    const tmp = mkdtempSync(join(tmpdir(), 'herd-video-frames-'));
    try {
      // A copy of the committed image checkpoint with one byte of one tensor changed.
      const withChanged = (tensor: string): string => {
        const dir = join(tmp, tensor);
        cpSync(videoImageDir(), dir, { recursive: true });
        const path = join(dir, MINI_VISION_FILES.weights);
        const info = SafetensorsFile.open(path).info(tensor);
        const bytes = readFileSync(path);
        bytes[info.byteOffset] = bytes[info.byteOffset]! ^ 0x01;
        writeFileSync(path, bytes);
        return dir;
      };
      const adapter = withChanged('language_model.model.layers.1.cross_attn.q_proj.weight');
      const adapterOnly = loadMiniVideo(MINI_VIDEO_DIR, adapter);
      expect([adapterOnly.imageMatches, adapterOnly.framesMatch]).toEqual([false, true]);
      for (const tensor of ['vision_model.patch_embedding.weight', 'multi_modal_projector.weight']) {
        const v = loadMiniVideo(MINI_VIDEO_DIR, withChanged(tensor));
        expect([tensor, v.imageMatches, v.framesMatch]).toEqual([tensor, false, false]);
      }
      // A video checkpoint saved before the digest was recorded knows only the whole file.
      const old = join(tmp, 'old-video');
      cpSync(MINI_VIDEO_DIR, old, { recursive: true });
      const cfg = JSON.parse(readFileSync(join(old, MINI_VIDEO_FILES.config), 'utf8')) as { image: Record<string, string> };
      delete cfg.image['frameFeaturesSha256'];
      delete cfg.image['dir'];
      writeFileSync(join(old, MINI_VIDEO_FILES.config), JSON.stringify(cfg));
      expect(loadMiniVideo(old, adapter).framesMatch).toBe(false);
      expect(loadMiniVideo(old, videoImageDir()).framesMatch).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('image.dir: the committed checkpoint reads its own image model (../mini-image), the video commands\' default image checkpoint (MINI_VIDEO_IMAGE_DIR)', () => {
    const stored = JSON.parse(readFileSync(join(MINI_VIDEO_DIR, MINI_VIDEO_FILES.config), 'utf8')) as { image: { dir: string; weightsSha256: string } };
    expect(stored.image.dir).toBe('../mini-image');
    expect(videoImageDir()).toBe(resolve(MINI_VIDEO_DIR, '..', 'mini-image'));
    expect(MINI_VIDEO_IMAGE_DIR).toBe(videoImageDir());
    expect(imageCheckpointSha(videoImageDir())).toBe(stored.image.weightsSha256);
    const v = loadMiniVideo();
    expect([v.vision.dir, v.imageMatches, v.framesMatch]).toEqual([videoImageDir(), true, true]);
  });

  it('an image checkpoint with place embeddings (the committed vision one since round 27) is refused on load, naming its folder and the ones that work', () => {
    const placed = JSON.parse(readFileSync(join(MINI_VISION_DIR, MINI_VISION_FILES.config), 'utf8')) as { placeBins?: number };
    expect(placed.placeBins).toBeGreaterThan(0);
    const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(() => loadMiniVideo(MINI_VIDEO_DIR, MINI_VISION_DIR)).toThrow(new RegExp(`^video checkpoint ${esc(MINI_VIDEO_DIR)}: its image checkpoint ${esc(MINI_VISION_DIR)} has place embeddings \\(placeBins ${placed.placeBins}\\), which the video line does not feed to frames yet: give an image checkpoint without them — the video model's own, packages/video/weights/mini-image`));
  });

  it('image.dir: written relative under the folder holding the video checkpoint, absolute elsewhere; resolved against the checkpoint; missing, another sha, or absent (an old config) each handled', async () => {
    const own = loadMiniVideo();
    const weights = Object.fromEntries(Object.entries(own.weights).map(([k, w]) => [k, hostTensor('f32', [...w.shape], w.data)]));
    const tmp = mkdtempSync(join(tmpdir(), 'herd-video-imagedir-'));
    try {
      expect(recordedImageDir(join(tmp, 'w', 'video'), join(tmp, 'w', 'image'))).toBe('../image');
      expect(recordedImageDir(join(tmp, 'w', 'video'), join(tmp, 'w', 'sub', 'image'))).toBe('../sub/image');
      expect(recordedImageDir(join(tmp, 'w', 'video'), join(tmp, 'other', 'image'))).toBe(resolve(tmp, 'other', 'image'));
      // Both in the herd checkout: relative (the recipe's default, the committed vision checkpoint).
      expect(recordedImageDir(MINI_VIDEO_DIR, MINI_VISION_DIR)).toBe('../../../vision/weights/mini');
      // A weights tree: the image checkpoint beside the video one; moved as a whole, it still loads.
      cpSync(videoImageDir(), join(tmp, 'w', 'image'), { recursive: true });
      await saveMiniVideo(join(tmp, 'w', 'video'), own.config, weights, join(tmp, 'w', 'image'));
      const cfgPath = join(tmp, 'w', 'video', MINI_VIDEO_FILES.config);
      expect((JSON.parse(readFileSync(cfgPath, 'utf8')) as { image: { dir: string } }).image.dir).toBe('../image');
      renameSync(join(tmp, 'w'), join(tmp, 'moved'));
      const moved = loadMiniVideo(join(tmp, 'moved', 'video'), undefined, own.core);
      expect([moved.vision.dir, moved.imageMatches]).toEqual([join(tmp, 'moved', 'image'), true]);
      const first = Object.keys(own.weights).sort()[0]!;
      expect(Array.from(moved.weights[first]!.data as Float32Array)).toEqual(Array.from(own.weights[first]!.data as Float32Array));
      // Another image checkpoint (one byte changed) under the recorded dir: refused, naming both folders.
      const imagePath = join(tmp, 'moved', 'image', MINI_VISION_FILES.weights);
      const good = readFileSync(imagePath);
      const bad = Buffer.from(good);
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x01;
      writeFileSync(imagePath, bad);
      const video = join(tmp, 'moved', 'video');
      const image = join(tmp, 'moved', 'image');
      expect(() => loadMiniVideo(video, undefined, own.core)).toThrow(new RegExp(`video checkpoint ${video}: its image checkpoint ${image} .*is not the one it was trained on`));
      // Missing: refused, naming both folders.
      rmSync(image, { recursive: true });
      expect(() => videoImageDir(video)).toThrow(new RegExp(`video checkpoint ${video}: its image checkpoint ${image} .*is missing`));
      // An explicit image checkpoint still loads it there (reported, as before).
      expect(loadMiniVideo(video, videoImageDir(), own.core).imageMatches).toBe(true);
      // An old config (no image.dir): the image checkpoint given, by default the video model's own (MINI_VIDEO_IMAGE_DIR).
      const cfg = JSON.parse(readFileSync(join(video, MINI_VIDEO_FILES.config), 'utf8')) as { image: Record<string, string> };
      delete cfg.image['dir'];
      writeFileSync(join(video, MINI_VIDEO_FILES.config), JSON.stringify(cfg));
      expect(videoImageDir(video)).toBe(MINI_VIDEO_IMAGE_DIR);
      expect(videoImageDir(video, join(tmp, 'elsewhere'))).toBe(join(tmp, 'elsewhere'));
      expect(loadMiniVideo(video, undefined, own.core).vision.dir).toBe(MINI_VIDEO_IMAGE_DIR);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a checkpoint whose video config is bad is refused naming its config file and every bad field', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'herd-video-badcfg-'));
    try {
      const dir = join(tmp, 'v');
      cpSync(MINI_VIDEO_DIR, dir, { recursive: true });
      const cfg = JSON.parse(readFileSync(join(dir, MINI_VIDEO_FILES.config), 'utf8'));
      writeFileSync(join(dir, MINI_VIDEO_FILES.config), JSON.stringify({ ...cfg, video: { ...cfg.video, frameLayout: 'diagonal', crossEvery: 0 }, image: { ...cfg.image, dir: MINI_VIDEO_IMAGE_DIR } }));
      expect(() => loadMiniVideo(dir)).toThrow(/video checkpoint .*config\.json: invalid video config[\s\S]*crossEvery must be[\s\S]*frameLayout must be 'slots' or 'canvas', got "diagonal"/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the motion readout (a layer override of the mini preset) is saved and loaded with its checkpoint; without it the stored config has no such key', async () => {
    const v = loadMiniVideo();
    expect(miniVideoConfig(v.config.image, { motionTokens: true }).video.motionReadout).toBeUndefined();
    expect(v.config.video.frameLayout).toBe('canvas'); // the committed checkpoint (round 39): each clip's tiles on its own canvas
    const m = miniVideoConfig(v.config.image, { motionQuery: true, motionTokens: true }, { motionReadout: true, frameLayout: 'canvas' });
    expect(m.video).toEqual({ ...v.config.video, motionReadout: true });
    expect(() => miniVideoConfig(v.config.image, {}, { motionReadout: true })).toThrow(/motionReadout reads the object-motion tokens/);
    const readout = videoParamSpecs(m).filter((sp) => sp.name.endsWith('motion_readout.weight'));
    expect(readout).toHaveLength(2);
    const weights = { ...Object.fromEntries(Object.entries(v.weights).map(([k, w]) => [k, hostTensor('f32', [...w.shape], w.data)])), ...Object.fromEntries(readout.map((sp, i) => [sp.name, hostTensor('f32', [...sp.shape], new Float32Array(sp.shape[0]! * sp.shape[1]!).fill(0.25 * (i + 1)))])) };
    const tmp = mkdtempSync(join(tmpdir(), 'herd-video-readout-'));
    try {
      await saveMiniVideo(join(tmp, 'with'), m, weights, MINI_VIDEO_IMAGE_DIR); // the image model its weights came with
      const back = loadMiniVideo(join(tmp, 'with'));
      expect(back.config.video.motionReadout).toBe(true);
      expect(Array.from((back.weights[readout[1]!.name]!.data as Float32Array).slice(0, 3))).toEqual([0.5, 0.5, 0.5]);
      await saveMiniVideo(join(tmp, 'without'), v.config, weights, MINI_VIDEO_IMAGE_DIR);
      expect(readFileSync(join(tmp, 'without', MINI_VIDEO_FILES.config), 'utf8')).not.toMatch(/motionReadout/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a text-only prompt gives the core\'s logits to the bit with the video and image layers attached', async () => {
    const v = loadMiniVideo();
    const tok = await loadLlama3Tokenizer();
    const prompt = Array.from(v.core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: 'Which way does the red circle move?' }], { addGenerationPrompt: true })));
    const gen = VideoGenerator.create(v.config, v.config.video.finetune, v.core.weights, v.vision.weights, v.weights);
    const plain = await Generator.create(v.core.config, buildDecoder(v.core.config, v.core.weights));
    try {
      const a = await gen.logits(prompt, null);
      const b = await plain.logits(prompt);
      a.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(b[i]!)));
    } finally {
      await gen.release();
      await plain.release();
    }
  });

  it('the QA mix: qaRepeat repeats a type\'s questions (0 leaves it out), other types once; a bad entry is refused', async () => {
    const v = loadMiniVideo();
    const tokenizer = await loadLlama3Tokenizer();
    const clip = { features: new Uint16Array(0), frameMask: new Uint8Array(0), kv: {}, aspectRatioId: 1 };
    const example: VideoExample = {
      key: 'clip-a', split: 'train', caption: 'A red circle moves to the left.', static: false, frames: 8, clip,
      objects: [{ shape: 'circle', colour: 'red', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } }],
    };
    const o = { core: v.core, tokenizer, image: v.config.image };
    const once = recipeSequences(o, [example], 40).qa; // direction, moving, which, count
    expect(once).toHaveLength(4);
    const mixed = recipeSequences(o, [example], 40, { qaRepeat: { direction: 3, count: 0 } }).qa;
    expect(mixed).toHaveLength(5);
    expect(mixed.filter((q) => JSON.stringify(q) === JSON.stringify(once[0]))).toHaveLength(3);
    expect(mixed).not.toContainEqual(once[3]);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, qaRepeat: { direction: -1 } })).rejects.toThrow(/qaRepeat direction=-1: types are direction, moving, which, event, count/);
  });

  it('directionNamed: direction answers name their mover ("The red circle moves to the left."), whole within the sequence; other questions and the captions unchanged; the look-up rows still find name and direction', async () => {
    const v = loadMiniVideo();
    const tokenizer = await loadLlama3Tokenizer();
    const clip = { features: new Uint16Array(0), frameMask: new Uint8Array(0), kv: {}, aspectRatioId: 1 };
    const example: VideoExample = {
      key: 'clip-c', split: 'train', caption: 'A red hexagon moves to the left. A blue square moves up.', static: false, frames: 8, clip,
      objects: [
        { shape: 'hexagon', colour: 'red', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } },
        { shape: 'square', colour: 'blue', size: 'small', start: 'bottom', motion: { kind: 'move', direction: 'up', speed: 'slow' } },
      ],
    };
    const o = { core: v.core, tokenizer, image: v.config.image };
    const plain = recipeSequences(o, [example], 40);
    const named = recipeSequences(o, [example], 40, { nameMover: true });
    const reply = (q: { targets: readonly number[] }) => tokenizer.decode(Array.from(v.core.vocab!.toFull(q.targets.filter((t) => t >= 0))));
    // direction ×2, moving, count: the two direction answers named in full (the end-of-turn token still trained: not cut at 40 tokens), the rest byte-identical.
    expect(named.qa.map(reply).slice(0, 2)).toEqual(['The red hexagon moves to the left.<|eot_id|>', 'The blue square moves up.<|eot_id|>']);
    expect(plain.qa.map(reply).slice(0, 2)).toEqual(['It moves to the left.<|eot_id|>', 'It moves up.<|eot_id|>']);
    expect(named.qa.slice(2)).toEqual(plain.qa.slice(2));
    expect(named.caption).toEqual(plain.caption);
    // The look-up loss reads the question's name and the answer's direction word in the named form too.
    const word = (id: number) => tokenizer.decode(Array.from(v.core.vocab!.toFull([id])));
    const looked = recipeSequences(o, [example], 40, { auxiliary: 'lookup', nameMover: true }).qa.filter((q) => q.lookup);
    expect(looked.map((q) => [word(q.tokens[q.lookup!.rows[0]!]!), word(q.tokens[q.lookup!.rows[1]! + 1]!), LOOKUP_DIRECTIONS[q.lookup!.direction]])).toEqual([['agon', ' left', 'left'], [' square', ' up', 'up']]); // " hexagon" is " hex" + "agon": the name's last token
    // The name row is the question's (before the reply's first trained row), not the reply's own name.
    expect(looked.every((q) => q.lookup!.rows[0]! < q.targets.findIndex((t) => t >= 0))).toBe(true);
  });


  it("the look targets: each direction question of a two-mover clip marks the look-up rows and the asked mover's object-motion tokens in each half of the clip; fed as [B, V] and [B, T]; a clip without timing and bad weights are refused", async () => {
    const v = loadMiniVideo();
    const m = v.config;
    const tokenizer = await loadLlama3Tokenizer();
    const S = frameTokens(m.image);
    const D = m.image.text.dim;
    const clipS = m.video.finetune;
    const F = clipS.frames;
    const V = videoTokenCount(m.video, clipS, S);
    const first = effectiveFrames(clipS) * m.video.resampler.latents;
    const kvSize = m.image.text.nKvHeads * S * (D / m.image.text.nHeads);
    const kv = Object.fromEntries(m.image.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, new Float32Array(kvSize)], [`xattn.v.${j}`, new Float32Array(kvSize)]]));
    const clip = { features: new Uint16Array(F * S * D), frameMask: new Uint8Array(S).fill(1), kv, aspectRatioId: 1 };
    const timing = { width: 96, height: 96, fps: 12, frames: 36 };
    const example: VideoExample = {
      key: 'clip-l', split: 'train', caption: 'A red circle moves to the left. A blue square moves up.', static: false, frames: F, clip, timing,
      objects: [
        { shape: 'circle', colour: 'red', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } },
        { shape: 'square', colour: 'blue', size: 'small', start: 'bottom', motion: { kind: 'move', direction: 'up', speed: 'slow' } },
      ],
    };
    const o = { core: v.core, tokenizer, image: m.image };
    const qa = recipeSequences(o, [example], 40, { auxiliary: 'look', video: { config: m, clip: clipS } }).qa; // direction ×2, moving, count
    const looked = qa.filter((q) => q.look);
    expect(looked).toHaveLength(2);
    expect(qa.filter((q) => !q.look)).toHaveLength(2);
    for (const [k, q] of looked.entries()) {
      // The rows: the look-up loss's (name end, the row before the direction word).
      expect(q.look!.rows).toEqual(lookupTarget(o, example, k === 0 ? 'Which way does the red circle move?' : 'Which way does the blue square move?', q.tokens).rows);
      // The tokens: object k's frame tokens in each effective frame, placed after the latents.
      const per = objectTokensPerGroup({ ...timing, objects: example.objects }, k, F, clipS.groupFrames, m.image.vision);
      expect(q.look!.tokens).toEqual(per.flatMap((ss, e) => ss.map((s) => first + e * S + s)));
      expect(q.look!.tokens.every((x) => x >= first && x < V)).toBe(true);
    }
    // The circle moves left: its tokens in the second half lie left of those in the first (columns on the 2 × 2 canvas's 12 × 12 grid).
    const col = (x: number) => ((Math.floor(((x - first) % S) / 37) % 2) * 6) + ((((x - first) % S) % 37) - 1) % 6;
    const half = (e: number) => looked[0]!.look!.tokens.filter((x) => Math.floor((x - first) / S) === e).map(col);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(half(1))).toBeLessThan(mean(half(0)) - 1);
    // With the latents: every latent, then the same mover tokens.
    const wide = recipeSequences(o, [example], 40, { auxiliary: 'look', video: { config: m, clip: clipS }, lookLoss: { latents: true } }).qa.filter((q) => q.look);
    expect(wide[0]!.look!.tokens).toEqual([...Array.from({ length: first }, (_, i) => i), ...looked[0]!.look!.tokens]);
    expect(wide[0]!.look!.rows).toEqual(looked[0]!.look!.rows);
    // The two movers' tokens differ.
    expect(looked[0]!.look!.tokens).not.toEqual(looked[1]!.look!.tokens);
    // lookLoss.movers 2: the two-mover clip's direction questions keep the same targets; a one-mover clip's (the square still) get none.
    const oneMover: VideoExample = { ...example, key: 'clip-one', objects: [example.objects[0]!, { ...example.objects[1]!, motion: { kind: 'still' } }] };
    const scoped = recipeSequences(o, [example, oneMover], 40, { auxiliary: 'look', video: { config: m, clip: clipS }, lookLoss: { movers: 2 } }).qa;
    expect(scoped.filter((q) => q.look).map((q) => [q.clip, q.look])).toEqual(looked.map((q) => ['clip-l', q.look]));
    expect(recipeSequences(o, [oneMover], 40, { auxiliary: 'look', video: { config: m, clip: clipS } }).qa.filter((q) => q.look)).toHaveLength(1); // default 1: marked
    // lookLoss.rows: the answer row alone (the row before the direction word) or the name row alone, the same tokens.
    for (const [k, r] of (['name', 'answer'] as const).entries()) {
      const one = recipeSequences(o, [example], 40, { auxiliary: 'look', video: { config: m, clip: clipS }, lookLoss: { rows: [r] } }).qa.filter((q) => q.look);
      expect(one.map((q) => q.look)).toEqual(looked.map((q) => ({ rows: [q.look!.rows[k]!], tokens: q.look!.tokens })));
    }
    expect(() => lookTarget(o, m, clipS, example, 'Which way does the red circle move?', looked[0]!.tokens, 'mover', [])).toThrow(/look target: rows \[\] must be some of name, answer/);
    // lookLoss.fewer 'latents': the one-mover clip's question marks the latents alone (every latent, no frame token), same rows; the two-mover clip's unchanged.
    const fewer = recipeSequences(o, [example, oneMover], 40, { auxiliary: 'look', video: { config: m, clip: clipS }, lookLoss: { movers: 2, fewer: 'latents' } }).qa.filter((q) => q.look);
    expect(fewer.filter((q) => q.clip === 'clip-l').map((q) => q.look)).toEqual(looked.map((q) => q.look));
    const lone = fewer.filter((q) => q.clip === 'clip-one');
    expect(lone).toHaveLength(1);
    expect(lone[0]!.look!.tokens).toEqual(Array.from({ length: first }, (_, i) => i));
    expect(lone[0]!.look!.rows).toEqual(lookupTarget(o, oneMover, 'Which way does the red circle move?', lone[0]!.tokens).rows);
    // Fed: [B, V] token marks and [B, T] row marks; zeros for a sequence without targets.
    const features = new Map([[example.key, clip]]);
    const feeds = videoBatch(m, clipS, features, [looked[0]!, qa.find((q) => !q.look)!], 40, undefined, 'look');
    const E = effectiveFrames(clipS);
    expect(feeds[VIDEO_LOOK_TOKENS]!.shape).toEqual([2, E, V]);
    const marks = Array.from(feeds[VIDEO_LOOK_TOKENS]!.data as Float32Array);
    // Each marked token in its effective frame's row: frame e holds exactly the tokens first + e·S … first + (e+1)·S − 1.
    for (let e = 0; e < E; e++) expect(marks.slice(e * V, (e + 1) * V).flatMap((x, i) => (x ? [i] : []))).toEqual(looked[0]!.look!.tokens.filter((x) => Math.floor((x - first) / S) === e));
    expect(marks.slice(E * V).every((x) => x === 0)).toBe(true);
    expect(Array.from(feeds[VIDEO_LOOK_ROWS]!.data as Float32Array).flatMap((x, i) => (x ? [i] : []))).toEqual([...looked[0]!.look!.rows]);
    // Refusals: no timing (the clip's objects cannot be placed), no video model given, and the recipe's weights.
    const { timing: _, ...untimed } = example;
    expect(() => lookTarget(o, m, clipS, untimed, 'Which way does the red circle move?', looked[0]!.tokens)).toThrow(/look target: clip clip-l has no timing \(size, fps, frame count\)/);
    expect(() => recipeSequences(o, [example], 40, { auxiliary: 'look' })).toThrow(/the look loss places its tokens on the video model: give video/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: -1 } })).rejects.toThrow(/lookLoss\.weight must be a number > 0 \(leave lookLoss out for none\), got -1/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 0 } })).rejects.toThrow(/lookLoss\.weight must be a number > 0 \(leave lookLoss out for none\), got 0/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { rows: ['answer'] } as unknown as VideoLookLoss })).rejects.toThrow(/lookLoss\.weight must be a number > 0 \(leave lookLoss out for none\), got undefined/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1 }, lookupWeight: 1, resampler: { motionTokens: true } })).rejects.toThrow(/lookLoss and lookupWeight are two auxiliary losses of the same rows; give one/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1 } })).rejects.toThrow(/the look loss \(lookLoss\) marks the object-motion tokens at the asked shape's places: set resampler\.motionTokens/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1, rows: ['answer', 'answer'] }, resampler: { motionTokens: true } })).rejects.toThrow(/lookLoss\.rows \[answer,answer\] must be distinct ones of name, answer/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1, fewer: 'latents' }, resampler: { motionTokens: true } })).rejects.toThrow(/lookLoss\.fewer 'latents' marks the clips lookLoss\.movers leaves out: give lookLoss\.movers > 1/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1, movers: 0 }, resampler: { motionTokens: true } })).rejects.toThrow(/lookLoss\.movers must be a whole number ≥ 1 \(moving shapes in a clip\), got 0/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookLoss: { weight: 1, layers: [2] }, resampler: { motionTokens: true } })).rejects.toThrow(/lookLoss\.layers \[2\]: the video model has 2 video layers \(0\.\.1\)/);
  });
  it('the look-up targets: each direction question of a two-mover clip points at the row ending the asked shape\'s name and its direction; other questions none; fed as [B, 2] rows and targets', async () => {
    const v = loadMiniVideo();
    const tokenizer = await loadLlama3Tokenizer();
    const S = frameTokens(v.config.image);
    const D = v.config.image.text.dim;
    const F = v.config.video.finetune.frames;
    const kvSize = v.config.image.text.nKvHeads * S * (D / v.config.image.text.nHeads);
    const kv = Object.fromEntries(v.config.image.crossAttentionLayers.flatMap((_, j) => [[`xattn.k.${j}`, new Float32Array(kvSize)], [`xattn.v.${j}`, new Float32Array(kvSize)]]));
    const clip = { features: new Uint16Array(F * S * D), frameMask: new Uint8Array(S).fill(1), kv, aspectRatioId: 1 };
    const example: VideoExample = {
      key: 'clip-b', split: 'train', caption: 'A red circle moves to the left. A blue square moves up.', static: false, frames: F, clip,
      objects: [
        { shape: 'circle', colour: 'red', size: 'big', start: 'right', motion: { kind: 'move', direction: 'left', speed: 'fast' } },
        { shape: 'square', colour: 'blue', size: 'small', start: 'bottom', motion: { kind: 'move', direction: 'up', speed: 'slow' } },
      ],
    };
    const o = { core: v.core, tokenizer, image: v.config.image };
    const qa = recipeSequences(o, [example], 40, { qaRepeat: { direction: 2 }, auxiliary: 'lookup' }).qa; // 2 × 2 direction, moving, count (no "which": two movers)
    expect(qa).toHaveLength(6);
    const word = (id: number) => tokenizer.decode(Array.from(v.core.vocab!.toFull([id])));
    const asked = qa.filter((q) => q.lookup).map((q) => [word(q.tokens[q.lookup!.rows[0]!]!), word(q.tokens[q.lookup!.rows[0]! - 1]!), word(q.tokens[q.lookup!.rows[1]! + 1]!), LOOKUP_DIRECTIONS[q.lookup!.direction]]);
    expect(asked).toEqual([[' circle', ' red', ' left', 'left'], [' circle', ' red', ' left', 'left'], [' square', ' blue', ' up', 'up'], [' square', ' blue', ' up', 'up']]);
    // The answer's row is the one the answer loss trains to say the direction word.
    for (const q of qa.filter((s) => s.lookup)) expect(q.targets[q.lookup!.rows[1]!]).toBe(q.tokens[q.lookup!.rows[1]! + 1]);
    expect(qa.filter((q) => !q.lookup)).toHaveLength(2);
    // Without the look-up the sequences are as before (no field).
    expect(recipeSequences(o, [example], 40).qa.some((q) => q.lookup)).toBe(false);
    // A question naming no moving shape of the clip is refused, naming it.
    expect(() => lookupTarget(o, example, 'Which way does the green star move?', qa[0]!.tokens)).toThrow(/no moving shape of clip clip-b is named in 'Which way does the green star move\?'/);
    // Fed: rows and targets per sequence [B, 2], 0 / −100 where a sequence has none; a row outside the sequence is refused.
    const features = new Map([[example.key, clip]]);
    const feeds = videoBatch(v.config, v.config.video.finetune, features, [qa[0]!, qa[4]!], 40, undefined, 'lookup');
    expect(feeds['video.lookupRow']!.shape).toEqual([2, 2]);
    expect(Array.from(feeds['video.lookupRow']!.data as Int32Array)).toEqual([...qa[0]!.lookup!.rows, 0, 0]);
    expect(Array.from(feeds['video.lookupTarget']!.data as Int32Array)).toEqual([0, 0, -100, -100]);
    expect(videoBatch(v.config, v.config.video.finetune, features, [qa[0]!], 40)['video.lookupRow']).toBeUndefined();
    expect(() => videoBatch(v.config, v.config.video.finetune, features, [{ ...qa[0]!, lookup: { rows: [5, 40], direction: 0 } }], 40, undefined, 'lookup')).toThrow(/sequence 0 \(clip clip-b\) has look-up rows \[5,40\]; the graph takes 2 rows in 0\.\.39/);
    await expect(trainMiniVideo({ ...o, vision: v.vision.weights, examples: [example], workDir: '/nonexistent', captionSteps: 0, qaSteps: 1, lookupWeight: -1 })).rejects.toThrow(/lookupWeight must be a number ≥ 0, got -1/);

    // aggregatorFrom: the checkpoint's aggregator, frozen, no stage 0; the video cross-attention fresh and trained.
    const tmp = mkdtempSync(join(tmpdir(), 'herd-video-aggfrom-'));
    try {
      const base = { ...o, vision: v.vision.weights, examples: [example], workDir: tmp, captionSteps: 0, qaSteps: 2, batch: 2, resampler: { motionQuery: true, motionTokens: true } } as const;
      const r = await trainMiniVideo({ ...base, aggregatorFrom: v.weights });
      const names = Object.keys(v.weights);
      for (const n of names.filter((k) => k.startsWith('video.resampler.'))) expect([n, Array.from(r.weights[n]!.data as Float32Array)]).toEqual([n, Array.from(v.weights[n]!.data as Float32Array)]);
      const q = 'video.cross_attention.0.cross_attn.q_proj.weight';
      expect(Array.from(r.weights[q]!.data as Float32Array).slice(0, 8)).not.toEqual(Array.from((v.weights[q]!.data as Float32Array).slice(0, 8)));
      await expect(trainMiniVideo({ ...base, aggregatorFrom: v.weights, aggregatorSteps: 5 })).rejects.toThrow(/aggregatorFrom gives the aggregator; leave out init and aggregatorSteps/);
      const { ['video.resampler.latents']: _, ...noLatents } = v.weights;
      await expect(trainMiniVideo({ ...base, aggregatorFrom: noLatents })).rejects.toThrow(/aggregatorFrom: no 'video\.resampler\.latents'/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
