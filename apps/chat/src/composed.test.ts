/**
 * One composed decoder in the server: a turn with several media (a picture and a spoken question; a
 * clip and a picture) is ONE prompt answered by the decoder `herd export` writes, and later turns
 * still see earlier pictures (the vision mask). On the built-in mini herd (core + vision + speech +
 * video).
 *
 * The adapter checkpoints are being retrained and do not perceive reliably: nothing here judges what
 * an answer says. What is asserted is the composition — the prompt's layout, the rows each medium
 * reaches (`decoderRows`), that each medium changes the first answer token's logits, that the streamed
 * answer starts with the argmax of those logits — and that refusals stay clear.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EOT_ID, END_OF_TEXT_ID, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { ASR_INSTRUCTION, AUDIO_START, JOINT_CTC_BEAM, JOINT_CTC_WEIGHT, KEEP_TOKEN, MINI_SPEECH_DIR, audioTokens, ctcHeadOf, ctcPosteriors, jointTranscribe, loadMiniSpeech, miniSpeechGenerator, speechPromptLayout } from '@herd/speech';
import { MINI_VIDEO_DIR } from '@herd/video';
import { MINI_VISION_DIR } from '@herd/vision';
import { HerdEngine, type Turn } from './engine.js';
import { decoderRows } from './prompt-plan.js';
import { ChatServer } from './server.js';
import { type ChatReply, postChat } from './sse-client.js';

const SCENES = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/', import.meta.url));
const SCENE = `${SCENES}img-00000019.png`;
const OTHER_SCENE = `${SCENES}img-00000012.png`;
const SPEECH_FIXTURES = fileURLToPath(new URL('../../../packages/speech/fixtures/heldout-speech/', import.meta.url));
const SPOKEN = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string }[]).find((i) => i.task === 'question')!;
const WAV = `${SPEECH_FIXTURES}${SPOKEN.file}`;
const CLIP = fileURLToPath(new URL('../fixtures/heldout-clips/vid-00000012.mp4', import.meta.url));
const MAX = 8;
const b64 = (path: string): string => readFileSync(path).toString('base64');

function expectWellFormed(r: ChatReply): { promptTokens: number; firstId: number } {
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const names = r.events.map((e) => e.event);
  expect(names[0]).toBe('start');
  expect(names.at(-1)).toBe('done');
  expect(names.slice(1, -1).every((n) => n === 'token')).toBe(true);
  const done = r.events.at(-1)!.data as { tokens: number; promptTokens: number };
  expect(done.tokens).toBeGreaterThan(0);
  return { promptTokens: done.promptTokens, firstId: (r.events[1]!.data as { id: number }).id };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('one composed decoder answers every medium of a conversation at once', () => {
  let engine: HerdEngine;
  let server: ChatServer;
  let url: string;
  const uploadDir = mkdtempSync(join(tmpdir(), 'herd-composed-test-'));
  beforeAll(async () => {
    engine = await HerdEngine.load({ device: 'cpu', visionDir: MINI_VISION_DIR, speechDir: MINI_SPEECH_DIR, videoDir: MINI_VIDEO_DIR });
    server = new ChatServer({ engine, log: () => {}, uploadDir });
    ({ url } = await server.listen(0, '127.0.0.1'));
  }, 240_000);
  afterAll(async () => {
    await server?.close();
    await engine?.release();
    rmSync(uploadDir, { recursive: true, force: true });
  });

  it('a picture and a spoken question in one turn: one prompt holds both, each changes the answer, the stream starts at its argmax', async () => {
    const reply = await postChat(url, { conversation: 'pic-voice', message: '', image: { name: 'scene.png', data: b64(SCENE) }, audio: { name: SPOKEN.file, data: b64(WAV) }, maxTokens: MAX });
    const { promptTokens, firstId } = expectWellFormed(reply);

    const image = await engine.prepareImage(readFileSync(SCENE), 'scene.png');
    const audio = await engine.prepareAudio(readFileSync(WAV), SPOKEN.file);
    const turns: Turn[] = [{ role: 'user', text: '', image, audio }];
    const plan = engine.plan(turns);
    // The speech layout of `herd generate --audio` with no instruction (the utterance is the question
    // about the picture), plus the picture's <|image|> first in the turn.
    const s = loadMiniSpeech(MINI_SPEECH_DIR, loadLanguageCore());
    const layout = speechPromptLayout(await loadLlama3Tokenizer(), s.core, { before: '', after: '' }, audioTokens(s.model.encoder, audio.frames));
    expect(promptTokens).toBe(layout.ids.length + 1);
    expect(plan.ids).toHaveLength(promptTokens);
    const at = plan.ids.findIndex((t) => t >= loadLanguageCore().config.vocabSize);
    expect(plan.codes![at]).toBe(KEEP_TOKEN);
    expect(plan.codes![at + 1]).toBe(AUDIO_START);
    expect([...plan.ids.slice(0, at), ...plan.ids.slice(at + 1)]).toEqual(layout.ids);
    expect([...plan.codes!.slice(0, at), ...plan.codes!.slice(at + 1)]).toEqual(layout.codes);
    expect(plan.slots).toEqual([{ turn: 0, kind: 'image' }]);

    // Every row from the picture on attends it (the utterance's rows and the answer's).
    const status = engine.status();
    // (One token per tile is enough to see which rows reach which slot.)
    const all = decoderRows(plan, [image.nTiles], { vocab: status.core.vocab, imageTokenId: plan.ids[at]!, image: { maxTiles: status.vision!.maxTiles, tokensPerTile: 1 } }, 0, plan.ids.length + 1);
    const rows = all.image!;
    const S = rows.imageTokens;
    const attends = Array.from({ length: plan.ids.length + 1 }, (_, r) => rows.xattnMask[r * S] === 1);
    expect(attends).toEqual(attends.map((_, r) => r >= at));
    const audioIndex = all.audioIndex;
    expect(Array.from(audioIndex.slice(0, plan.ids.length))).toEqual(plan.codes);
    expect(audioIndex[plan.ids.length]).toBe(KEEP_TOKEN); // a generated token is text

    const logits = await engine.nextLogits(turns);
    expect(firstId).toBe(argmax(logits));
    // The same inputs give the same logits bit for bit, so any difference below is the medium's.
    expect(maxAbsDiff(logits, await engine.nextLogits(turns))).toBe(0);
    // Another picture, or the same number of frames of flat features, change the distribution: both
    // media reach the decoder. (The mini speech adapter barely hears yet: the utterance moved the
    // logits by 7.7e-5 at most in one run; a splice that did not happen would give exactly 0.)
    const other = await engine.prepareImage(readFileSync(OTHER_SCENE), 'other.png');
    expect(maxAbsDiff(logits, await engine.nextLogits([{ ...turns[0]!, image: other }]))).toBeGreaterThan(1e-5);
    const flat = { features: new Float32Array(audio.features.length).fill(-1), frames: audio.frames };
    expect(maxAbsDiff(logits, await engine.nextLogits([{ ...turns[0]!, audio: flat }]))).toBeGreaterThan(1e-6);
  }, 300_000);

  it("a second turn refers to the first turn's picture: it stays in the prompt and the new question's rows attend it", async () => {
    const q1 = 'What colour is the big shape?';
    const first = await postChat(url, { conversation: 'follow', message: q1, image: { name: 'scene.png', data: b64(SCENE) }, maxTokens: MAX });
    expectWellFormed(first);
    const q2 = 'And where is it?';
    const second = await postChat(url, { conversation: 'follow', message: q2, maxTokens: MAX });
    const { promptTokens, firstId } = expectWellFormed(second);

    const image = await engine.prepareImage(readFileSync(SCENE), 'scene.png');
    const turns: Turn[] = [{ role: 'user', text: q1, image }, { role: 'assistant', text: first.text }, { role: 'user', text: q2 }];
    const plan = engine.plan(turns);
    expect(promptTokens).toBe(plan.ids.length);
    expect(plan.slots).toEqual([{ turn: 0, kind: 'image' }]);
    // The text-only layout of the same conversation is one token shorter: the <|image|>.
    expect(engine.plan(turns.map((t) => ({ role: t.role, text: t.text }))).ids.length).toBe(plan.ids.length - 1);
    const status = engine.status();
    const rows = decoderRows(plan, [image.nTiles], { vocab: status.core.vocab, imageTokenId: plan.ids.find((t) => t >= status.core.vocab)!, image: { maxTiles: status.vision!.maxTiles, tokensPerTile: 1 } }, plan.ids.length - 1, 1).image!;
    expect(rows.xattnMask.some((x) => x === 1)).toBe(true); // the last prompt row (turn 2) sees turn 1's picture

    const logits = await engine.nextLogits(turns);
    expect(firstId).toBe(argmax(logits));
    const other = await engine.prepareImage(readFileSync(OTHER_SCENE), 'other.png');
    expect(maxAbsDiff(logits, await engine.nextLogits([{ ...turns[0]!, image: other }, turns[1]!, turns[2]!]))).toBeGreaterThan(1e-5);
  }, 300_000);

  it('a clip and a picture in one turn: two image slots, the picture read by the vision layers and the clip\'s middle frame by the video model\'s own, video cross-attention open on the rows after them', async () => {
    const q = 'What moves?';
    const reply = await postChat(url, { conversation: 'clip-pic', message: q, image: { name: 'scene.png', data: b64(SCENE) }, video: { name: 'clip.mp4', data: b64(CLIP) }, maxTokens: MAX });
    const { promptTokens, firstId } = expectWellFormed(reply);
    const image = await engine.prepareImage(readFileSync(SCENE), 'scene.png');
    const clip = await engine.prepareClip(readFileSync(CLIP), 'clip.mp4');
    const turns: Turn[] = [{ role: 'user', text: q, image, clip }];
    const plan = engine.plan(turns);
    expect(promptTokens).toBe(plan.ids.length);
    expect(plan.slots).toEqual([{ turn: 0, kind: 'image' }, { turn: 0, kind: 'clip', clip: 0 }]);
    expect(plan.clipTurns).toEqual([0]);
    const status = engine.status();
    const vocab = status.core.vocab;
    const at = plan.ids.findIndex((t) => t >= vocab);
    expect(plan.ids[at + 1]).toBe(plan.ids[at]); // <|image|><|image|>
    const rows = decoderRows(plan, [image.nTiles, clip.frames[0]!.nTiles], { vocab, imageTokenId: plan.ids[at]!, image: { maxTiles: status.vision!.maxTiles, tokensPerTile: 1 }, clip: { maxTiles: status.vision!.maxTiles, tokensPerTile: 1, videoTokens: 4 } }, 0, plan.ids.length);
    const open = Array.from({ length: plan.ids.length }, (_, r) => rows.clip!.videoMask[r * 4] === 1);
    expect(open).toEqual(open.map((_, r) => r >= at + 1)); // from the clip's token on
    // Each set holds one slot: the picture in the vision layers', the clip in the video model's own.
    expect([rows.image!.imageTokens, rows.clip!.imageTokens]).toEqual([status.vision!.maxTiles, status.vision!.maxTiles]);
    const last = plan.ids.length - 1;
    // The question's rows attend both (consecutive <|image|> tokens share the interval), each in its own set.
    expect(rows.image!.xattnMask[last * rows.image!.imageTokens]).toBe(1);
    expect(rows.clip!.xattnMask[last * rows.clip!.imageTokens]).toBe(1);
    // Each set's learnable id sits on its own <|image|>: the picture's at `at`, the clip's at `at + 1`.
    expect([rows.image!.learnableIds[at], rows.image!.learnableIds[at + 1]]).toEqual([plan.ids[at]! - vocab, -1]);
    expect([rows.clip!.learnableIds[at], rows.clip!.learnableIds[at + 1]]).toEqual([-1, plan.ids[at]! - vocab]);

    const logits = await engine.nextLogits(turns);
    expect(firstId).toBe(argmax(logits));
    // The clip's video tokens and middle frame reach the decoder: a clip of frames reversed changes the distribution.
    const reversed = { ...clip, frames: [...clip.frames].reverse() };
    expect(maxAbsDiff(logits, await engine.nextLogits([{ ...turns[0]!, clip: reversed }]))).toBeGreaterThan(1e-5);
  }, 300_000);

  it('a transcription (the last turn an utterance alone) is decoded jointly with the exported CTC head, token for token as herd does in process', async () => {
    // A held-out statement (at commit its joint transcript differs from the core's greedy one, so the rows below tell the paths apart).
    const said = (JSON.parse(readFileSync(`${SPEECH_FIXTURES}items.json`, 'utf8')) as { file: string; task: string }[]).find((i) => i.task === 'statement')!;
    const audio = await engine.prepareAudio(readFileSync(`${SPEECH_FIXTURES}${said.file}`), said.file);
    const speech = loadMiniSpeech(MINI_SPEECH_DIR, loadLanguageCore());
    const n = audioTokens(speech.model.encoder, audio.frames);
    const alone: Turn[] = [{ role: 'user', text: '', audio }];
    expect(engine.plan(alone).transcribe).toEqual({ utterance: 0, audioTokens: n });
    expect(engine.plan([{ role: 'user', text: 'Where?', audio }]).transcribe).toBeUndefined(); // a spoken question about typed text
    expect(engine.plan([...alone, { role: 'assistant', text: 'Hi.' }, { role: 'user', text: 'And?' }]).transcribe).toBeUndefined(); // not the last turn
    const core = speech.core;
    const stops = [EOT_ID, END_OF_TEXT_ID].map((id) => core.vocab!.toCompact([id])[0]!);
    const gen = await miniSpeechGenerator(speech);
    try {
      const layout = speechPromptLayout(await loadLlama3Tokenizer(), core, { before: '', after: ASR_INSTRUCTION }, n);
      const posteriors = await ctcPosteriors(gen, core, ctcHeadOf(speech.weights)!, audio);
      for (const joint of [{ weight: JOINT_CTC_WEIGHT, beam: JOINT_CTC_BEAM }, { weight: 1, beam: 2 }, { weight: 0, beam: 1 }]) {
        const chat: number[] = [];
        for await (const p of engine.generate(alone, { maxTokens: 16, jointCtc: joint })) if (p.id >= 0) chat.push(p.id);
        const herd = joint.weight > 0
          ? (await jointTranscribe((o) => gen.beam(layout, audio, o), posteriors, { ...joint, maxNewTokens: 16, stopTokens: stops })).tokens
          : await gen.complete(layout, audio, { maxNewTokens: 16, temperature: 0, stopTokens: stops });
        expect(chat, `joint ${JSON.stringify(joint)}`).toEqual(herd.filter((t) => !stops.includes(t)));
      }
    } finally {
      await gen.release();
    }
  }, 300_000);

  it('two clips and two utterances in one conversation: each clip and each utterance is in the prompt, each row sees its own clip, and the older ones still change the answer', async () => {
    const clip = await engine.prepareClip(readFileSync(CLIP), 'clip.mp4');
    const reversed = { ...clip, frames: [...clip.frames].reverse() };
    const audio = await engine.prepareAudio(readFileSync(WAV), SPOKEN.file);
    const turns: Turn[] = [
      { role: 'user', text: 'What moves?', clip, audio },
      { role: 'assistant', text: 'The star.' },
      { role: 'user', text: 'And here?', clip: reversed, audio },
    ];
    const plan = engine.plan(turns);
    expect(plan.clipTurns).toEqual([0, 2]);
    expect(plan.audioTurns).toEqual([0, 2]);
    expect(plan.slots).toEqual([{ turn: 0, kind: 'clip', clip: 0 }, { turn: 2, kind: 'clip', clip: 1 }]);
    // Utterance u's frame a is row u·A + a of the fed frames (A: the speech recipe's adapterFrames).
    const speech = await loadMiniSpeech(MINI_SPEECH_DIR);
    const A = audioTokens(speech.model.encoder, speech.maxFrames);
    const n = audioTokens(speech.model.encoder, audio.frames);
    const frameCodes = plan.codes!.filter((c) => c >= 0);
    expect(frameCodes).toEqual([...Array.from({ length: n }, (_, a) => a), ...Array.from({ length: n }, (_, a) => A + a)]);
    expect(plan.codes!.filter((c) => c === AUDIO_START)).toHaveLength(2);
    // The video mask: rows after the first clip's token see clip 0's columns, rows after the second see clip 1's only.
    const status = engine.status();
    const vocab = status.core.vocab;
    const V = 4;
    const rows = decoderRows(plan, [clip.frames[0]!.nTiles, reversed.frames[0]!.nTiles], { vocab, imageTokenId: plan.ids.find((t) => t >= vocab)!, clip: { maxTiles: status.vision!.maxTiles, tokensPerTile: 1, videoTokens: V } }, 0, plan.ids.length).clip!;
    const slotsAt = plan.ids.flatMap((t, i) => (t >= vocab && (i === 0 || plan.ids[i - 1]! < vocab) ? [i] : []));
    expect(slotsAt).toHaveLength(2);
    const sees = (r: number) => [0, 1].filter((c) => rows.videoMask![r * 2 * V + c * V] === 1);
    expect(sees(slotsAt[0]! - 1)).toEqual([]);
    expect(sees(slotsAt[0]!)).toEqual([0]);
    expect(sees(slotsAt[1]! - 1)).toEqual([0]);
    expect(sees(slotsAt[1]!)).toEqual([1]);
    expect(sees(plan.ids.length - 1)).toEqual([1]);
    // The older clip and the older utterance reach the answer (before, they counted as their text only).
    const logits = await engine.nextLogits(turns);
    const withOlderClip = await engine.nextLogits([{ ...turns[0]!, clip: reversed }, turns[1]!, turns[2]!]);
    expect(maxAbsDiff(logits, withOlderClip)).toBeGreaterThan(1e-5);
    const quiet = { ...audio, features: new Float32Array(audio.features.length) };
    expect(maxAbsDiff(logits, await engine.nextLogits([{ ...turns[0]!, audio: quiet }, turns[1]!, turns[2]!]))).toBeGreaterThan(1e-5);
  }, 300_000);

  it('refusals stay clear with several attachments, and a refused message leaves none of its uploads behind', async () => {
    const up = await fetch(new URL('/api/uploads?name=scene.png', url), { method: 'POST', body: readFileSync(SCENE) });
    expect(up.status).toBe(201);
    const { upload } = (await up.json()) as { upload: string };
    const bad = await postChat(url, { conversation: 'refused', message: 'what is it?', image: { upload }, audio: { name: 'voice.wav', data: b64(SCENE) } });
    expect(bad.status).toBe(415);
    expect(bad.json).toMatchObject({ error: { code: 'not_audio' } });
    expect((bad.json as { error: { message: string } }).error.message).toMatch(/voice\.wav.*not audio.*look like png/);
    // The image upload was taken by the refused message and deleted with it.
    const again = await postChat(url, { conversation: 'refused', message: 'what is it?', image: { upload } });
    expect(again.status).toBe(400);
    expect((again.json as { error: { message: string } }).error.message).toMatch(/no upload/);
    expect(server.uploads.size).toBe(0);
    expect(readdirSync(uploadDir)).toEqual([]);

    const long = Array.from({ length: 1300 }, (_, i) => `w${i % 10}`).join(' ');
    const over = await postChat(url, { conversation: 'long', message: long, image: { name: 'scene.png', data: b64(SCENE) }, audio: { name: SPOKEN.file, data: b64(WAV) } });
    expect(over.status).toBe(400);
    expect(over.json).toMatchObject({ error: { code: 'context_overflow' } });
    expect((over.json as { error: { message: string } }).error.message).toMatch(/takes \d+ tokens.*context is 1024/);
  }, 120_000);
});
