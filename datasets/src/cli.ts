#!/usr/bin/env node
/**
 * `node dist/cli.js generate --size tiny --out out/tiny [--only text,images,video,speech] [--seed 1]
 *  [--noise-rate 0.2] [--count text=100000,images=500] [--tts auto|wasm|binary] [--tts-threads N]`
 * `node dist/cli.js sample [--out sample]` (the committed sample: size "sample", seed 1)
 * Environment is read here only: FFMPEG_BIN names an ffmpeg binary.
 */
import { parseArgs } from 'node:util';
import { HerdError, Progress, isHerdError } from '@herd/core';
import { generateWorld } from './generate.js';
import { MODALITIES, SIZE_NAMES, type Modality } from './sizes.js';
import type { TtsPreference } from './tts.js';

const USAGE = `usage:
  herd-datasets generate --size ${SIZE_NAMES.join('|')} --out DIR [--only ${MODALITIES.join(',')}] [--seed N]
                         [--noise-rate R] [--count text=N,images=N,...] [--tts auto|wasm|binary] [--tts-threads N]
  herd-datasets sample [--out sample]`;

function parseCounts(s: string | undefined): Partial<Record<Modality, number>> {
  const counts: Partial<Record<Modality, number>> = {};
  if (s === undefined) return counts;
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!(MODALITIES as readonly string[]).includes(k ?? '') || !Number.isInteger(n) || n < 0) {
      throw new HerdError('invalid_argument', `--count expects modality=N pairs (modalities: ${MODALITIES.join(', ')}), got "${part}"`);
    }
    counts[k as Modality] = n;
  }
  return counts;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      size: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      seed: { type: 'string' },
      'noise-rate': { type: 'string' },
      count: { type: 'string' },
      tts: { type: 'string' },
      'tts-threads': { type: 'string' },
    },
  });
  if (command !== 'generate' && command !== 'sample') throw new HerdError('invalid_argument', `unknown command "${command ?? ''}"\n${USAGE}`);
  const size = command === 'sample' ? 'sample' : values.size ?? 'tiny';
  const out = values.out ?? (command === 'sample' ? 'sample' : `out/${size}`);
  const only = values.only?.split(',').map((s) => s.trim()) as Modality[] | undefined;
  const seed = values.seed !== undefined ? Number(values.seed) : 1;
  if (!Number.isInteger(seed)) throw new HerdError('invalid_argument', `--seed must be an integer, got ${values.seed}`);
  const tts = values.tts as TtsPreference | undefined;
  if (tts !== undefined && !['auto', 'wasm', 'binary'].includes(tts)) throw new HerdError('invalid_argument', `--tts must be auto, wasm or binary, got ${tts}`);
  const ttsThreads = values['tts-threads'] !== undefined ? Number(values['tts-threads']) : undefined;
  if (ttsThreads !== undefined && !(Number.isInteger(ttsThreads) && ttsThreads >= 1)) throw new HerdError('invalid_argument', `--tts-threads must be a positive integer, got ${values['tts-threads']}`);
  const bars = new Map<Modality, Progress>();
  const ffmpeg = process.env.FFMPEG_BIN;
  const report = await generateWorld({
    out,
    size,
    seed,
    ...(only !== undefined ? { only } : {}),
    counts: parseCounts(values.count),
    ...(values['noise-rate'] !== undefined ? { noiseRate: Number(values['noise-rate']) } : {}),
    ...(ffmpeg !== undefined && ffmpeg !== '' ? { ffmpeg } : {}),
    ...(tts !== undefined ? { tts } : {}),
    ...(ttsThreads !== undefined ? { ttsThreads } : {}),
    onProgress(m, done, total) {
      let bar = bars.get(m);
      if (bar === undefined) bars.set(m, (bar = new Progress(m.padEnd(6), total)));
      bar.update(done);
    },
  });
  for (const bar of bars.values()) bar.done();
  for (const [m, r] of Object.entries(report.modalities)) {
    console.log(`${m.padEnd(7)} ${String(r.count).padStart(8)} items  ${r.seconds.toFixed(1).padStart(6)} s  ${r.path}`);
  }
  console.log(`total ${report.seconds.toFixed(1)} s (size ${report.size}, seed ${report.seed})`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(isHerdError(e) ? `error (${e.code}): ${e.message}` : e);
  process.exitCode = 1;
});
