// Tokenise probe items for fwd.py: each input line {user, prefix?, ...} gets ids (compact rows: the chat prompt
// with the generation header, then the teacher-forced assistant prefix) and pieces (each token's text).
// With REF=N the first N items also get the TS core's last-position logits (parity check of fwd.py).
// Usage: [REF=N CORE=DIR] node tok.mjs IN.jsonl OUT.jsonl
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { Generator, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '../../packages/llama3/dist/index.js';
const [inp, out] = process.argv.slice(2);
const core = loadLanguageCore(process.env.CORE ?? new URL('../../packages/llama3/weights/mini', import.meta.url).pathname);
const tok = await loadLlama3Tokenizer();
const ref = Number(process.env.REF ?? 0);
const gen = ref ? await Generator.create(core.config, buildDecoder(core.config, core.weights), {}) : null;
const rows = readFileSync(inp, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const lines = [];
for (const [i, r] of rows.entries()) {
  const real = tok.encodeChat([{ role: 'user', content: r.user }], { addGenerationPrompt: true });
  const pre = r.prefix ? tok.encode(r.prefix, { bos: false, eos: false }) : [];
  const all = [...real, ...pre];
  const ids = Array.from(core.vocab.toCompact(all));
  const pieces = all.map((id) => tok.decode([id]));
  const o = { ...r, ids, pieces, promptLen: real.length };
  if (i < ref) {
    let logits;
    for await (const _ of gen.generate(ids, { maxNewTokens: 1, temperature: 0, scorer: { score: (_g, l) => { logits = l; return l; } } }));
    o.refLogits = Array.from(logits, (x) => +x.toFixed(5));
  }
  lines.push(JSON.stringify(o));
}
writeFileSync(out + '.tmp', lines.join('\n') + '\n'); renameSync(out + '.tmp', out);
console.log(out, lines.length, 'items');
