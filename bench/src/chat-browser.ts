/**
 * In-browser generation speed beside the server's: the chat page in Debian's chromium (headless,
 * playwright-core, nothing downloaded) asks the same questions answered from the server (onnxruntime-
 * node) and from the page itself (onnxruntime-web WASM, one thread), and reads each answer's stats line
 * (tokens, time to first token, tokens/s). One user, the mini core + mini vision; the server runs in
 * this process. Prints a table and writes bench/results/chat-browser.json. Asserts nothing.
 *
 *   node bench/dist/chat-browser.js [--questions 6] [--max-tokens 32]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: "In-browser generation speed beside the server's: the chat page in Debian's headless chromium answers the same questions from the server and from onnxruntime-web WASM in the page.",
  writes: 'bench/results/chat-browser.json',
  flags: {
    questions: { value: 'N', default: '6', help: 'questions asked in each mode' },
    'max-tokens': { value: 'N', default: '32', help: 'tokens per answer at most' },
  },
});
const nQuestions = cli.number('questions');
const maxTokens = cli.number('max-tokens');
const CHROMIUM = '/usr/bin/chromium';
const QUESTIONS = ['Where is the red ball?', 'How many squares are there?', 'What colour is the big circle?', 'Is there a word in the picture?', 'What shape is at the top?', 'Describe the scene.'];

const child = spawn(process.execPath, [join(here, '../../apps/chat/dist/main.js'), '--port', '0', '--max-tokens', String(maxTokens), '--vision', join(here, '../../packages/vision/weights/mini')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /open (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  child.once('exit', (code) => reject(new Error(`the chat server exited (${code}):\n${out}`)));
});

interface Stat {
  tokens: number;
  firstMs: number;
  tokensPerSecond: number | null;
}
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const rows: { mode: string; load?: string; answers: Stat[] }[] = [];
try {
  for (const mode of ['server', 'wasm']) {
    const page = await browser.newPage();
    await page.goto(`${url}?mode=${mode}`);
    let load: string | undefined;
    if (mode !== 'server') {
      await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 120_000 });
      load = (await page.textContent('#browser-status')) ?? undefined;
    }
    const answers: Stat[] = [];
    for (let i = 0; i < nQuestions; i++) {
      // A fresh conversation per question on both sides (switching modes resets it).
      await page.selectOption('#mode', 'server');
      await page.selectOption('#mode', mode);
      if (mode !== 'server') await page.waitForSelector('#browser-status:has-text("loaded in")', { timeout: 120_000 });
      await page.fill('#text', QUESTIONS[i % QUESTIONS.length]!);
      await page.press('#text', 'Enter');
      await page.waitForSelector('#stats:has-text("tokens/s")', { timeout: 120_000 });
      const s = (await page.textContent('#stats')) ?? '';
      const m = /(\d+) tokens · \w+ · first token ([\d.]+) ms · ([\d.–]+) tokens\/s/.exec(s);
      if (!m) throw new Error(`unexpected stats line: ${s}`);
      answers.push({ tokens: Number(m[1]), firstMs: Number(m[2]), tokensPerSecond: m[3] === '–' ? null : Number(m[3]) });
    }
    rows.push({ mode, ...(load ? { load } : {}), answers });
    await page.close();
  }
} finally {
  await browser.close();
  child.kill('SIGTERM');
}

const median = (xs: number[]): number | null => (xs.length ? Math.round(10 * [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!) / 10 : null);
const machine = { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? '?', load: loadavg().map((x) => Math.round(x * 10) / 10), node: process.version };
console.log(`chat page, one user, mini core + mini vision, ${nQuestions} questions × ≤${maxTokens} tokens; machine ${machine.cpus} CPUs (${machine.cpuModel}), load ${machine.load.join(' ')}`);
console.log('| answers from | first token median ms | tokens/s median | tokens/answer |');
console.log('|---|---|---|---|');
const summary = rows.map((r) => ({
  mode: r.mode === 'server' ? 'server (onnxruntime-node, CPU)' : 'this browser (onnxruntime-web WASM, 1 thread)',
  firstTokenMs: median(r.answers.map((a) => a.firstMs)),
  tokensPerSecond: median(r.answers.flatMap((a) => (a.tokensPerSecond === null ? [] : [a.tokensPerSecond]))),
  tokensPerAnswer: Math.round((10 * r.answers.reduce((a, b) => a + b.tokens, 0)) / r.answers.length) / 10,
  load: r.load,
}));
for (const s of summary) console.log(`| ${s.mode} | ${s.firstTokenMs} | ${s.tokensPerSecond} | ${s.tokensPerAnswer} |`);
for (const s of summary) if (s.load) console.log(`(${s.load})`);
const results = join(here, '../results');
mkdirSync(results, { recursive: true });
writeFileSync(join(results, 'chat-browser.json'), JSON.stringify({ when: new Date().toISOString(), machine, options: { nQuestions, maxTokens }, summary, rows }, null, 2) + '\n');
console.log(`wrote ${join(results, 'chat-browser.json')}`);
