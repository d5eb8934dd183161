/**
 * The OCR stage with and without its text-presence gate and line crops (`ocr.ts`): word accuracy on
 * generated scenes with a written word, false text on scenes without one, and images per CPU-second
 * (tesseract's worker threads included). Images the image filter would drop (shorter side < 32) are
 * left out, as in the pipeline.
 *
 *   HERD_THREADS=1 nice -n 10 node bench/dist/curate-ocr-gate.js [--seed 8] [--words 60] [--without 20]
 *
 * Prints a table and writes bench/results/curate-ocr-gate-<seed>.json. Asserts nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sample } from '@herd/data';
import { generateImages } from '@herd/datasets';
import { decodeImage } from '@herd/media';
import { ocr, type OcrOptions } from '@herd/vision';
import { benchArgs } from './bench-args.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = benchArgs({
  about: 'The OCR stage with and without its text-presence gate and line crops: word accuracy on generated scenes with a word, false text on scenes without one, and images per CPU-second.',
  writes: 'bench/results/curate-ocr-gate-<seed>.json',
  flags: {
    seed: { value: 'N', default: '8', help: "the generator's seed" },
    words: { value: 'N', default: '60', help: 'scenes with a written word' },
    without: { value: 'N', default: '20', help: 'scenes without one' },
  },
});
const seed = cli.number('seed');
const nWords = cli.number('words');
const nWithout = cli.number('without');
const wordOf = (s: Sample): string | null => (s.meta['scene'] as { word: { text: string } | null }).word?.text ?? null;

const withWord: Sample[] = [];
const noWord: Sample[] = [];
for await (const s of generateImages({ seed, count: 20 * (nWords + nWithout), noiseRate: 0 })) {
  const img = await decodeImage((s.files['png'] ?? s.files['jpg'])!);
  if (Math.min(img.width, img.height) < 32) continue;
  if (wordOf(s) !== null) {
    if (withWord.length < nWords) withWord.push(s);
  } else if (noWord.length < nWithout) noWord.push(s);
  if (withWord.length >= nWords && noWord.length >= nWithout) break;
}
const ctx = { shard: 'bench', pass: 0, worker: 0 };
const rows: Record<string, unknown>[] = [];
console.log(`seed ${seed}: ${withWord.length} scenes with a word, ${noWord.length} without\n| OCR | word accuracy | false text | CPU s | images/s per core |\n|---|---|---|---|---|`);
for (const [name, opts] of [['no gate', { gate: false }], ['gate only', { cropToText: false }], ['gate + text lines (default)', {}]] as [string, OcrOptions][]) {
  const stage = ocr({ workers: 1, ...opts });
  await stage.process(noWord[0]!, ctx); // worker start-up outside the measurement
  const c0 = process.cpuUsage();
  let right = 0;
  let falseText = 0;
  const misses: string[] = [];
  for (const s of withWord) {
    const r = await stage.process(s, ctx);
    const got = r.keep ? ((r.sample.meta['ocr'] as { words?: { text: string }[] } | undefined)?.words ?? []).map((w) => w.text.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '')) : [];
    if (got.includes(wordOf(s)!)) right++;
    else misses.push(`${s.key} ${wordOf(s)} → ${JSON.stringify(got)}`);
  }
  for (const s of noWord) {
    const r = await stage.process(s, ctx);
    if (r.keep && r.sample.meta['ocr'] !== undefined) falseText++;
  }
  const c = process.cpuUsage(c0);
  await stage.close();
  const cpuSeconds = (c.user + c.system) / 1e6;
  const perCore = (withWord.length + noWord.length) / cpuSeconds;
  rows.push({ name, right, words: withWord.length, falseText, without: noWord.length, cpuSeconds, perCore, misses });
  console.log(`| ${name} | ${right}/${withWord.length} = ${((100 * right) / withWord.length).toFixed(1)} % | ${falseText}/${noWord.length} | ${cpuSeconds.toFixed(1)} | ${perCore.toFixed(1)} |`);
}
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', `curate-ocr-gate-${seed}.json`), JSON.stringify({ seed, rows }, null, 2) + '\n');
