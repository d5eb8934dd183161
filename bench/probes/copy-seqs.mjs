// Probe sequences for copyheads.py: <|begin_of_text|>, a list of L distinct random whole-word rows of CORE's
// vocabulary, F random filler words, the list again (the core-induction bench's form), as compact ids.
// Usage: node copy-seqs.mjs CORE OUT.jsonl [N=30] [L=20] [F=0] [SEED=1]
import { writeFileSync, renameSync } from 'node:fs';
import { Rng } from '../../packages/core/dist/index.js';
import { loadLanguageCore, loadLlama3Tokenizer } from '../../packages/llama3/dist/index.js';
const [core, out, n = '30', l = '20', f = '0', seed = '1'] = process.argv.slice(2);
const c = loadLanguageCore(core);
const tok = await loadLlama3Tokenizer();
const words = [];
c.vocab.ids.forEach((id, row) => /^ [a-z]{2,}$/u.test(tok.decode([id])) && words.push(row));
const bos = c.vocab.toCompact([128000])[0];
const rng = new Rng(Number(seed));
const L = Number(l), F = Number(f), lines = [];
for (let k = 0; k < Number(n); k++) {
  const list = rng.shuffle([...words]).slice(0, L);
  const fill = Array.from({ length: F }, () => rng.pick(words));
  lines.push(JSON.stringify({ ids: [bos, ...list, ...fill, ...list], first: 1, second: 1 + L + F, length: L }));
}
writeFileSync(out + '.tmp', lines.join('\n') + '\n'); renameSync(out + '.tmp', out);
console.log(out, lines.length, 'sequences of', 1 + 2 * L + F, 'tokens;', words.length, 'words');
