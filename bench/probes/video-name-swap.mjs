// Round 25 (reel25): does the asked shape's NAME change the video adapter's direction answer? On every held-out clip
// whose two moving shapes go different ways, asks "Which way does the X move?" of each mover (the eval's wording) and
// tallies: both answers right (the name binds), the two answers different, the two answers the same word (the name is
// not used: at most one can be right). An adapter that answers the clip's dominant motion gives the same word twice.
// Usage (built repo, from the repo root): node bench/probes/video-name-swap.mjs VIDEO_DIR FEATURES_DIR [VISION_DIR]
// FEATURES_DIR: the feature cache the checkpoint was trained on (features-<sha>-<clips>; an oracle's coded cache for an
// oracle run); VISION_DIR: the image checkpoint it was trained on (default the committed one). Not for look checkpoints.
import { loadLanguageCore, loadLlama3Tokenizer, EOT_ID, END_OF_TEXT_ID } from '@herd/llama3';
import { imageQuestionIds } from '@herd/vision';
import { VideoGenerator, loadMiniVideo, readVideoExamples, videoQuestions, gradeVideoQa } from '@herd/video';

const [videoDir, featuresDir, visionDir] = process.argv.slice(2);
if (!videoDir || !featuresDir) throw new Error('usage: node bench/probes/video-name-swap.mjs VIDEO_DIR FEATURES_DIR [VISION_DIR]');
const v = loadMiniVideo(videoDir, visionDir, loadLanguageCore()); // its own image checkpoint unless VISION_DIR is given
if (v.config.video.look) throw new Error(`${videoDir} takes a second feature input (look): not supported here`);
const m = v.config;
const core = v.core;
const heldout = await readVideoExamples(featuresDir, m.image, { split: 'heldout' });
const tok = await loadLlama3Tokenizer();
const toModel = (ids) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
const toFull = (ids) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
const text = (ids) => tok.decode(toFull(ids.filter((t) => !stops.includes(t)))).trim();
const gen = VideoGenerator.create(m, m.video.finetune, core.weights, v.vision.weights, v.weights);
const said = (a) => (a.toLowerCase().match(/\b(left|right|up|down|upwards|downwards|still)\b/) ?? ['?'])[0].replace(/wards$/, '');
const tally = { clips: 0, bothRight: 0, oneRight: 0, noneRight: 0, sameWord: 0, differentWords: 0, asked: 0, right: 0 };
for (const x of heldout) {
  const movers = x.objects.filter((o) => o.motion.kind === 'move');
  if (movers.length !== 2 || movers[0].motion.direction === movers[1].motion.direction) continue;
  // The eval's direction question (`videoQuestions`' wording), asked of each mover.
  const ask = movers.map((o) => ({ o, question: `Which way does the ${o.colour} ${o.shape} move?`, answer: `It moves ${o.motion.direction}.` }));
  if (!videoQuestions(x.objects).some((q) => q.type === 'direction' && ask.some((a) => a.question === q.question))) throw new Error(`${x.key}: the eval asks another wording than this probe`);
  const ctx = await gen.context(x.clip);
  const answers = [];
  for (const a of ask) answers.push(text(await gen.complete(imageQuestionIds(tok, core, m.image, a.question), ctx, { maxNewTokens: 16, temperature: 0, stopTokens: stops })));
  const ok = ask.map((a, i) => gradeVideoQa('direction', answers[i], a.answer));
  const nRight = ok.filter(Boolean).length;
  tally.clips++;
  tally.asked += 2;
  tally.right += nRight;
  tally[nRight === 2 ? 'bothRight' : nRight === 1 ? 'oneRight' : 'noneRight']++;
  tally[said(answers[0]) === said(answers[1]) ? 'sameWord' : 'differentWords']++;
  console.log(`${x.key}: ${ask.map((a, i) => `${a.o.colour} ${a.o.shape} (${a.o.motion.direction}) → "${answers[i]}"${ok[i] ? '' : ' WRONG'}`).join(' | ')}`);
}
console.log(JSON.stringify(tally));
await gen.release();
