/**
 * The chat server under load on loopback, with autocannon: 1, 4 and 16 concurrent users posting chat
 * messages (each a fresh conversation, questions in turn) to `POST /api/chat` of a server started as
 * users start it (`apps/chat/dist/main.js`, a child process, the mini core + mini vision on CPU).
 * Each level is bounded in time (--duration) and count (--max-requests).
 *
 * Per level: completed answers/s, client latency of a whole answer (p50/p99, queue wait included),
 * time to first token and tokens/s as the server measured them (its `done` event: generation only,
 * no queue wait), the share of 503 `busy` answers (the documented overload answer, each checked for
 * Retry-After), and anything else (which should be 0). The server's status is read after each level.
 * Prints a table and writes bench/results/chat-load.json. Asserts nothing.
 *
 *   node bench/dist/chat-load.js [--concurrency 1,4,16] [--duration 20] [--max-requests 400]
 *     [--max-tokens 32] [--queue 4] [--no-vision]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'The chat server (mini core + mini vision, a child process) under load on loopback with autocannon: answers/s, latency, time to first token and 503 share at growing concurrency.',
  writes: 'bench/results/chat-load.json',
  flags: {
    concurrency: { value: 'N,N,…', default: '1,4,16', help: 'concurrent users, one level each' },
    duration: { value: 'S', default: '20', help: 'seconds per level at most' },
    'max-requests': { value: 'N', default: '400', help: 'requests per level at most' },
    'max-tokens': { value: 'N', default: '32', help: 'tokens per answer at most' },
    queue: { value: 'N', default: '4', help: "the server's queue length (--queue)" },
    'no-vision': { help: 'start the server without the mini vision adapter' },
  },
});
const levels = cli.flag('concurrency').split(',').map(Number);
const duration = cli.number('duration');
const maxRequests = cli.number('max-requests');
const maxTokens = cli.number('max-tokens');
const queue = cli.number('queue');
const vision = !cli.has('no-vision');
const QUESTIONS = ['Where is the red ball?', 'How many squares are there?', 'What colour is the big circle?', 'Is there a word in the picture?'];

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const main = join(here, '../../apps/chat/dist/main.js');
  const visionDir = join(here, '../../packages/vision/weights/mini');
  const child = spawn(process.execPath, [main, '--port', '0', '--queue', String(queue), '--max-tokens', String(maxTokens), '--timeout', '120', ...(vision ? ['--vision', visionDir] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the chat server exited (${code}) before listening:\n${out}`)));
  });
  return { url, child };
}

interface Done {
  readonly tokens: number;
  readonly timeToFirstTokenMs: number | null;
  readonly tokensPerSecond: number | null;
}

const pct = (xs: number[], p: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number | null, d = 1): number | null => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

async function level(url: string, connections: number) {
  const done: Done[] = [];
  let busy = 0;
  let busyWithoutRetryAfter = 0;
  let other = 0;
  const otherSamples: string[] = [];
  let n = 0;
  const result = await autocannon({
    url: `${url}api/chat`,
    connections,
    duration,
    maxOverallRequests: maxRequests,
    timeout: 120,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => {
          const i = n++;
          return { ...req, body: JSON.stringify({ conversation: `load-${connections}-${i}`, message: QUESTIONS[i % QUESTIONS.length], maxTokens }) };
        },
        onResponse: (status, body, _ctx, headers) => {
          if (status === 503) {
            busy++;
            const h = headers as unknown as Record<string, string> | string[] | undefined;
            const hasRetry = Array.isArray(h) ? h.some((x) => String(x).toLowerCase() === 'retry-after') : h !== undefined && Object.keys(h).some((k) => k.toLowerCase() === 'retry-after');
            if (!hasRetry) busyWithoutRetryAfter++;
            return;
          }
          const m = status === 200 ? /event: done\ndata: (.*)\n/.exec(body) : null;
          if (m) done.push(JSON.parse(m[1]!) as Done);
          else {
            other++;
            if (otherSamples.length < 3) otherSamples.push(`${status}: ${body.slice(0, 200)}`);
          }
        },
      },
    ],
  });
  const status = (await (await fetch(`${url}api/status`)).json()) as { counts: Record<string, number>; queue: Record<string, number> };
  const total = done.length + busy + other;
  const elapsed = result.duration;
  return {
    users: connections,
    seconds: round(elapsed, 1),
    requests: total,
    answers: done.length,
    answersPerSecond: round(done.length / elapsed, 2),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    timeToFirstTokenMs: { p50: round(pct(done.flatMap((d) => (d.timeToFirstTokenMs === null ? [] : [d.timeToFirstTokenMs])), 50)), p99: round(pct(done.flatMap((d) => (d.timeToFirstTokenMs === null ? [] : [d.timeToFirstTokenMs])), 99)) },
    tokensPerSecond: { p50: round(pct(done.flatMap((d) => (d.tokensPerSecond === null ? [] : [d.tokensPerSecond])), 50)) },
    tokensPerAnswer: round(done.reduce((a, d) => a + d.tokens, 0) / Math.max(1, done.length), 1),
    busy503: busy,
    busyShare: round(total === 0 ? 0 : busy / total, 3),
    busyWithoutRetryAfter,
    otherErrors: other + result.errors,
    otherSamples,
    connectionErrors: result.errors,
    timeouts: result.timeouts,
    serverCounts: status.counts,
  };
}

const { url, child } = await startServer();
const rows = [];
try {
  for (const c of levels) rows.push(await level(url, c));
} finally {
  child.kill('SIGTERM');
}

const machine = { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? '?', memGiB: Math.round(totalmem() / 2 ** 30), load: loadavg().map((x) => Math.round(x * 10) / 10), node: process.version };
console.log(`chat server under load: mini core${vision ? ' + mini vision' : ''} on CPU, ${maxTokens} tokens max per answer, queue ${queue}; ${duration} s or ${maxRequests} requests per level`);
console.log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), load ${machine.load.join(' ')}`);
console.log('| users | answers/s | latency p50 / p99 ms | first token p50 / p99 ms | tokens/s p50 | tokens/answer | 503 share | other errors |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.users} | ${r.answersPerSecond} | ${r.latencyMs.p50} / ${r.latencyMs.p99} | ${r.timeToFirstTokenMs.p50} / ${r.timeToFirstTokenMs.p99} | ${r.tokensPerSecond.p50} | ${r.tokensPerAnswer} | ${(100 * (r.busyShare ?? 0)).toFixed(1)}% (${r.busy503}) | ${r.otherErrors} |`);
}
const results = join(here, '../results');
mkdirSync(results, { recursive: true });
writeFileSync(join(results, 'chat-load.json'), JSON.stringify({ when: new Date().toISOString(), machine, options: { levels, duration, maxRequests, maxTokens, queue, vision }, rows }, null, 2) + '\n');
console.log(`wrote ${join(results, 'chat-load.json')}`);
