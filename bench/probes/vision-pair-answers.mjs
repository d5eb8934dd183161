// Round 23: the answers files of vision-answers.mjs sorted by the held-out colour x shape pair. For count items: is the
// asked shape a held-out pair in the scene (green triangle ...) or a seen one, one object group or several; how often the
// adapter is right and how often it says the shape is not there ("Zero." / "There are no X."). For one-group colour
// items: each held-out pair and the colours the adapter names. Reads the scenes from DATA's index.jsonl (no model run).
// Round 25: shape items ("What is on the left?") by the asked object's pair (the scene's object at the asked place):
// held-out or seen, one group or several; adapter and blind right, and the shapes the adapter names. Also reads the
// vision oracle's --answers files (the same JSON lines).
//   node bench/probes/vision-pair-answers.mjs DATA_DIR ANSWERS.jsonl [ANSWERS.jsonl ...]
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELDOUT_COMBOS } from '@herd/datasets';

const [data, ...files] = process.argv.slice(2);
if (!data || files.length === 0) {
  console.error('usage: node bench/probes/vision-pair-answers.mjs DATA_DIR ANSWERS.jsonl [ANSWERS.jsonl ...]');
  process.exit(2);
}
const index = join(data, 'index.jsonl');
for (const f of [index, ...files]) {
  if (!existsSync(f)) {
    console.error(`vision-pair-answers: ${f} does not exist`);
    process.exit(2);
  }
}
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const scenes = new Map(lines(index).map((r) => [r.key, r.meta?.scene]));
const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross', 'heart', 'diamond'];
const heldPair = (o) => HELDOUT_COMBOS.some(([c, s]) => c === o.colour && s === o.shape);
const absent = (s) => /\bzero\b|\bno\b|\bnone\b/i.test(s);
/** The scene place a question asks about (the world's positions: left, right, top, bottom, centre; "middle" is the centre). */
const placeOf = (q) => {
  const w = /\b(left|right|top|bottom|centre|middle)\b/i.exec(q)?.[1]?.toLowerCase();
  return w === 'middle' ? 'centre' : w;
};
/** The first shape an answer names (singular or plural), or undefined. */
const shapeIn = (a) => /\b(circle|square|triangle|star|hexagon|cross|heart|diamond)(?:e?s)?\b/i.exec(a)?.[1]?.toLowerCase();

for (const f of files) {
  const rows = lines(f);
  const count = {};
  const shape = {};
  const colour = {};
  for (const r of rows) {
    const scene = scenes.get(r.scene);
    if (!scene) {
      console.error(`vision-pair-answers: ${f}: scene ${r.scene} is not in ${index} (answers of another dataset?)`);
      process.exit(1);
    }
    const groups = scene.objects.length === 1 ? 'one group' : 'several groups';
    if (r.type === 'count') {
      const shape = SHAPES.find((s) => new RegExp(`\\b${s}s?\\b`).test(r.question));
      const pair = scene.objects.filter((o) => o.shape === shape).some(heldPair) ? 'held-out pair' : 'seen pair';
      const k = `${pair}, ${groups}`;
      count[k] ??= { n: 0, right: 0, saysAbsent: 0 };
      count[k].n++;
      if (r.hits.adapter) count[k].right++;
      if (absent(r.answers.adapter)) count[k].saysAbsent++;
    } else if (r.type === 'shape') {
      const at = placeOf(r.question);
      const o = scene.objects.find((x) => x.position === at);
      if (!o) {
        console.error(`vision-pair-answers: ${f}: scene ${r.scene} has no object at the place of ${JSON.stringify(r.question)}`);
        process.exit(1);
      }
      const k = `${heldPair(o) ? 'held-out pair' : 'seen pair'}, ${groups}`;
      shape[k] ??= { n: 0, right: 0, blindRight: 0, said: {} };
      shape[k].n++;
      if (r.hits.adapter) shape[k].right++;
      if (r.hits.blind) shape[k].blindRight++;
      const named = shapeIn(r.answers.adapter) ?? '-';
      shape[k].said[named] = (shape[k].said[named] ?? 0) + 1;
    } else if (r.type === 'colour' && scene.objects.length === 1) {
      const o = scene.objects[0];
      (colour[`${o.colour} ${o.shape}`] ??= []).push(r.answers.adapter.replace(/^The \w+ (is|are) /, '').replace(/\.$/, '').toLowerCase());
    }
  }
  console.log(JSON.stringify({ answers: f, count, shape, oneGroupColour: colour }));
}
