// Every answer of `herd vision eval` (the same held-out items, graded the same way), written as JSON lines, with
// the eval's tables and a short breakdown of what the adapter says: for position, the place it names and whether
// its preposition is on the reference's axis (on → left/right, near/at → top/bottom, in → the middle); for shape,
// the shape it names against the reference's and its blind control's; for colour, the colour named.
//   node bench/probes/vision-answers.mjs CORE_DIR VISION_DIR DATA_DIR [PER_TYPE=50] [OUT.jsonl] [--count-balance]
// --count-balance: the count items balanced by the reference number, as herd vision eval --count-balance draws them.
import { writeFileSync } from 'node:fs';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { evaluateVqa, loadMiniVision, readSceneExamples, vqaCountTable, vqaGroupTable, vqaItems, vqaTable } from '@herd/vision';
import { setDefaultThreads } from '@herd/runtime';

setDefaultThreads(1);
const countBalance = process.argv.includes('--count-balance');
const [coreDir, visionDir, data, perType = '50', out] = process.argv.slice(2).filter((a) => a !== '--count-balance');
if (!coreDir || !visionDir || !data) {
  console.error('usage: node bench/probes/vision-answers.mjs CORE_DIR VISION_DIR DATA_DIR [PER_TYPE=50] [OUT.jsonl] [--count-balance]');
  process.exit(2);
}
let v;
try {
  v = loadMiniVision(visionDir, loadLanguageCore(coreDir)); // a wrong checkpoint or core fails before any scene is read
} catch (e) {
  console.error(`vision-answers: ${e.message}`);
  process.exit(1);
}
const heldout = await readSceneExamples(data, v.config, { split: 'heldout' });
const rows = [];
const report = await evaluateVqa({
  config: v.config, core: v.core, vision: v.weights, tokenizer: await loadLlama3Tokenizer(), items: vqaItems(heldout, Number(perType), { countBalance }),
  onItem: (item, answers, hits) => rows.push({ scene: item.scene.key, groups: item.scene.scene?.objects.length, type: item.type, question: item.question, reference: item.answer, answers, hits }),
});
if (out) writeFileSync(out, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));

const words = (list) => (s) => list.filter((w) => new RegExp(`\\b${w}s?\\b`, 'i').test(s));
const PLACES = ['left', 'right', 'top', 'bottom', 'centre', 'middle'];
const place = (s) => [...new Set(words(PLACES)(s).map((p) => (p === 'middle' ? 'centre' : p)))].sort().join(',') || '-';
const axis = (p) => (/left|right/.test(p) ? 'lr' : /top|bottom/.test(p) ? 'tb' : /centre/.test(p) ? 'c' : '-');
const prepAxis = (s) => ({ on: 'lr', near: 'tb', at: 'tb', in: 'c' })[/\b(on|in|near|at) the\b/i.exec(s)?.[1]?.toLowerCase()] ?? '-';
const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross', 'heart', 'diamond'];
const COLOURS = [...new Set(heldout.flatMap((s) => s.scene?.objects.map((o) => o.colour) ?? []))];
const tally = (xs) => Object.fromEntries([...xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map())].sort((a, b) => b[1] - a[1]));
const of = (t) => rows.filter((r) => r.type === t);
const pos = of('position');
const summary = {
  vision: visionDir,
  position: {
    truthAxisToAnswerAxis: tally(pos.map((r) => `${axis(place(r.reference))}→${axis(place(r.answers.adapter))}`)),
    prepositionOnTruthAxis: pos.filter((r) => prepAxis(r.answers.adapter) === axis(place(r.reference))).length,
    answerPlaces: tally(pos.map((r) => place(r.answers.adapter))),
    blindPlaces: tally(pos.map((r) => place(r.answers.blind))),
    n: pos.length,
  },
  shape: {
    named: tally(of('shape').map((r) => words(SHAPES)(r.answers.adapter)[0] ?? '-')),
    blindNamed: tally(of('shape').map((r) => words(SHAPES)(r.answers.blind)[0] ?? '-')),
    truth: tally(of('shape').map((r) => words(SHAPES)(r.reference)[0] ?? '-')),
    sameAsBlind: of('shape').filter((r) => (words(SHAPES)(r.answers.adapter)[0] ?? '-') === (words(SHAPES)(r.answers.blind)[0] ?? '-')).length,
  },
  colour: { named: tally(of('colour').map((r) => words(COLOURS)(r.answers.adapter)[0] ?? '-')) },
  word: { named: tally(of('word').map((r) => r.answers.adapter.replace(/^The word is /, ''))) },
};
console.log(`${vqaTable(report)}\nby object groups in the scene (adapter / blind control):\n${vqaGroupTable(report)}\ncount by the reference number:\n${vqaCountTable(report)}`);
console.log(JSON.stringify(summary));
