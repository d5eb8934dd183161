// Round 19 (reel19): where does the video adapter's direction answer go wrong? For the held-out direction questions
// the video eval asks (`videoQaItems`, first --per-type of them), prints per question: the asked shape's direction,
// the adapter's answer, what else the clip holds, and the aggregator's motion features (`motionFeatures`: unit
// displacement dx, dy) with the direction they give by the sign of the larger axis (no training: what a clip-level
// motion feature can tell at best). Tallies the answers by clip kind, the confusion (reference → answer) and the
// video cross-attention gates. Answers that name a shape (--direction-named) are tallied by whether they name the asked one.
// Usage (built repo, from the repo root): node bench/probes/video-direction-answers.mjs VIDEO_DIR FEATURES_DIR [CORE_DIR] [PER_TYPE] [VISION_DIR] [LOOK_FEATURES_DIR]
// FEATURES_DIR: the feature cache `herd video train` writes (features-<sha>-<clips>); CORE_DIR default the committed core
// ('-' for the default when VISION_DIR follows); VISION_DIR: the image checkpoint the video checkpoint was trained on
// (`herd video train --vision`; default the committed one; '-' for it when LOOK_FEATURES_DIR follows); LOOK_FEATURES_DIR:
// for a checkpoint with the look input (`--look-vision`), the feature cache of that image checkpoint (the same clips).
import * as G from '@herd/graph';
import { decodeF16 } from '@herd/core';
import { loadLanguageCore, loadLlama3Tokenizer, EOT_ID, END_OF_TEXT_ID } from '@herd/llama3';
import { Session, hostTensor } from '@herd/runtime';
import { imageQuestionIds } from '@herd/vision';
import { VideoGenerator, canvasPlaces, loadMiniVideo, motionFeatures, readVideoExamples, videoQaItems, gradeVideoQa, withLook } from '@herd/video';

const [videoDir, featuresDir, coreArg, perTypeArg, visionArg0, lookFeaturesDir] = process.argv.slice(2);
const visionArg = visionArg0 === '-' ? undefined : visionArg0;
if (!videoDir || !featuresDir) throw new Error('usage: node bench/probes/video-direction-answers.mjs VIDEO_DIR FEATURES_DIR [CORE_DIR|-] [PER_TYPE] [VISION_DIR|-] [LOOK_FEATURES_DIR]');
const coreDir = coreArg === '-' ? undefined : coreArg;
const perType = Number(perTypeArg ?? 40);
// Its own image checkpoint (config image.dir); VISION_DIR puts it on another one (or gives it to a checkpoint that records none).
const v = loadMiniVideo(videoDir, visionArg, loadLanguageCore(coreDir));
if (!v.imageMatches) console.log(`note: ${videoDir} was trained on another image checkpoint than ${v.vision.dir} (give its VISION_DIR)`);
const m = v.config;
const clip = m.video.finetune;
if (m.video.look && !lookFeaturesDir) throw new Error(`${videoDir} takes a second feature input (look): give LOOK_FEATURES_DIR, the feature cache of its --look-vision checkpoint`);
const first = await readVideoExamples(featuresDir, m.image, { split: 'heldout' });
const heldout = m.video.look ? withLook(first, await readVideoExamples(lookFeaturesDir, m.image, { split: 'heldout' }), lookFeaturesDir) : first;
const items = videoQaItems(heldout, perType).filter((x) => x.type === 'direction');
const tok = await loadLlama3Tokenizer();
const core = v.core;
const toModel = (ids) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
const toFull = (ids) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
const text = (ids) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();
const gen = VideoGenerator.create(m, clip, core.weights, v.vision.weights, v.weights);

const S = m.image.vision.maxTiles * (((m.image.vision.tileSize / m.image.vision.patchSize) ** 2) + 1);
const F = clip.frames, D = m.image.text.dim;
const g = new G.Graph();
const fr = g.input('frames', 'f32', [1, F, S, D]);
const mk = g.input('mask', 'bool', [1, S]);
const canvas = m.video.frameLayout === 'canvas'; // each clip's own canvas places the tokens (video config frameLayout)
const ar = canvas ? g.input('ar', 'i32', [1]) : undefined;
const ms = await Session.create(G.toOnnx(g, { outputs: { m: motionFeatures(fr, mk, m.image.vision, canvas ? canvasPlaces(m.image.vision, ar) : undefined) }, name: 'm' }));

for (const [k, t] of Object.entries(v.weights)) if (/gate$/.test(k)) console.log(`${k} = ${Array.from(t.data).map((x) => x.toFixed(3))} (tanh ${Math.tanh(t.data[0]).toFixed(3)})`);
const tally = {};
const add = (kind, ok) => { tally[kind] ??= [0, 0]; tally[kind][0] += ok ? 1 : 0; tally[kind][1]++; };
const confusion = {};
for (const it of items) {
  const ctx = await gen.context(it.clip.clip);
  const answer = text(await gen.complete(imageQuestionIds(tok, core, m.image, it.question), ctx, { maxNewTokens: 16, temperature: 0, stopTokens: stops }));
  const ok = gradeVideoQa('direction', answer, it.answer);
  const feats = Array.from((await ms.run({ frames: hostTensor('f32', [1, F, S, D], decodeF16(it.clip.clip.features)), mask: hostTensor('bool', [1, S], it.clip.clip.frameMask), ...(canvas ? { ar: hostTensor('i32', [1], [it.clip.clip.aspectRatioId]) } : {}) }))['m'].data);
  const [dx, dy] = feats;
  const rule = Math.abs(dx) > Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : dy > 0 ? 'down' : 'up';
  const ref = it.answer.match(/(left|right|up|down)/)[1];
  const others = it.clip.objects.filter((o) => !it.question.includes(`${o.colour} ${o.shape}`)).map((o) => (o.motion.kind === 'move' ? `move-${o.motion.direction}` : o.motion.kind));
  const kind = others.length === 0 ? 'one shape' : others.some((o) => o.startsWith('move')) ? 'other shape moves' : others.some((o) => o === 'appear' || o === 'disappear') ? 'other appears/disappears' : 'other still';
  add(kind, ok); add('all', ok); add(`rule: ${kind}`, rule === ref); add('rule: all', rule === ref);
  // Two movers: when the other goes the same way any read of a mover is right; only "another way" tests the look-up.
  const otherWay = others.find((o) => o.startsWith('move-'))?.slice(5);
  if (otherWay !== undefined) add(`two movers, ${otherWay === ref ? 'the same way' : 'different ways'}`, ok);
  const said = (answer.toLowerCase().match(/\b(left|right|up|down|upwards|downwards|still)\b/) ?? ['?'])[0];
  confusion[`${ref}→${said}`] = (confusion[`${ref}→${said}`] ?? 0) + 1;
  if (otherWay !== undefined && otherWay !== ref) { add('two movers, different ways: says the other\'s direction', said === otherWay); add('two movers, different ways: says the clip-level rule\'s direction', said === rule); }
  // An answer naming a shape (--direction-named: "The red circle moves up."): the asked one, another of the clip's, or none.
  const asked = it.question.match(/the (\w+ \w+) move\?$/)[1];
  const named = / (\w+ \w+) moves? /.exec(` ${answer.toLowerCase()}`)?.[1];
  const names = named === undefined ? 'none' : named === asked ? 'asked' : it.clip.objects.some((o) => `${o.colour} ${o.shape}` === named) ? 'other' : 'unknown';
  if (named !== undefined) add(`names the ${names} shape: ${kind}`, ok);
  console.log(`${ok ? 'ok ' : 'BAD'} ${ref.padEnd(5)} said "${answer}" | others [${others.join(', ')}] | dx ${dx.toFixed(2)} dy ${dy.toFixed(2)} amt ${feats[4].toFixed(2)} rule ${rule}${rule === ref ? '' : ' (rule wrong)'} | asked ${asked}, names ${names}`);
}
console.log('\naccuracy by clip kind (answers, and the feature rule):');
for (const [k, [a, n]] of Object.entries(tally).sort()) console.log(`  ${k}: ${a}/${n}`);
console.log('confusion (reference→answer):', JSON.stringify(confusion));
await gen.release();
await ms.release();
