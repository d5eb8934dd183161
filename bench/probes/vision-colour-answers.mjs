// Which colour does a vision checkpoint name when asked the colour of a named shape in a held-out scene (unseen
// colour × shape pair)? Each adapter answer (its first colour word) is sorted into: right; the colour of another object
// in the scene (the wrong object found); one of the asked shape's two most frequent colours in the training scenes (the
// shape standing in for the colour); another colour; none named. One-group scenes are listed (shape, right, named).
//   node bench/probes/vision-colour-answers.mjs CORE_DIR VISION_DIR DATA_DIR [PER_TYPE=50]
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { VisionGenerator, imageQuestionIds, loadMiniVision, readSceneExamples, vqaItems } from '@herd/vision';
import { END_OF_TEXT_ID, EOT_ID } from '@herd/llama3';
import { setDefaultThreads } from '@herd/runtime';

setDefaultThreads(1);
const [coreDir, visionDir, data, perType = '50'] = process.argv.slice(2);
const v = loadMiniVision(visionDir, loadLanguageCore(coreDir));
const tok = await loadLlama3Tokenizer();
const all = await readSceneExamples(data, v.config);
const train = all.filter((s) => s.split === 'train');
const colours = [...new Set(all.flatMap((s) => s.scene.objects.map((o) => o.colour)))];
const trainColoursOf = new Map(); // shape → colour → objects in the training scenes
for (const s of train) for (const o of s.scene.objects) { const m = trainColoursOf.get(o.shape) ?? new Map(); m.set(o.colour, (m.get(o.colour) ?? 0) + 1); trainColoursOf.set(o.shape, m); }
const topColours = (shape) => [...(trainColoursOf.get(shape) ?? new Map())].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([c]) => c);
const items = vqaItems(all.filter((s) => s.split === 'heldout'), Number(perType)).filter((i) => i.type === 'colour');
const toModel = (ids) => Array.from(v.core.vocab.toCompact(ids));
const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
const gen = VisionGenerator.create(v.config, v.core.weights, v.weights);
const tally = { right: 0, otherObject: 0, shapesTopColour: 0, other: 0, none: 0 };
const oneGroup = [];
const byGroups = { one: { ...tally }, several: { ...tally } };
for (const it of items) {
  const ids = await gen.complete(imageQuestionIds(tok, v.core, v.config, it.question), [it.scene.image], { maxNewTokens: 24, temperature: 0, stopTokens: stops });
  const answer = tok.decode(Array.from(v.core.vocab.toFull(ids.filter((t) => !stops.includes(t))))).toLowerCase();
  const named = colours.filter((c) => new RegExp(`\\b${c}\\b`).test(answer));
  const ref = colours.find((c) => new RegExp(`\\b${c}\\b`).test(it.answer.toLowerCase()));
  const shape = it.scene.scene.objects.find((o) => o.colour === ref && it.question.includes(o.shape.replace(/s$/, '')))?.shape ?? it.scene.scene.objects.find((o) => it.question.includes(o.shape))?.shape;
  const first = named[0];
  const kind = first === undefined ? 'none' : first === ref ? 'right' : it.scene.scene.objects.some((o) => o.colour === first) ? 'otherObject' : topColours(shape).includes(first) ? 'shapesTopColour' : 'other';
  if (it.scene.scene.objects.length === 1) oneGroup.push(`${shape} ${ref}→${first ?? '-'}`);
  tally[kind]++;
  byGroups[it.scene.scene.objects.length === 1 ? 'one' : 'several'][kind]++;
}
await gen.release();
console.log(JSON.stringify({ vision: visionDir, n: items.length, tally, byGroups, topTrainColours: Object.fromEntries([...trainColoursOf.keys()].map((k) => [k, topColours(k)])), oneGroup }));
