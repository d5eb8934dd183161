/**
 * The turbo pipelines (turbo.json): `generate`, `curate`, `train`, `eval`, `export` across packages.
 * Reads turbo's own plan (`turbo run … --dry=json`, nothing runs) and checks its edges: data before
 * curation, curation before training the text core, the text core trained before export; the vision and video adapters
 * trained as their committed recipes against the committed core (the video one also against its image model,
 * packages/video/weights/mini-image), re-training none of them; and that a filtered run pulls in what it needs and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TURBO = fileURLToPath(new URL('../../node_modules/.bin/turbo', import.meta.url));

interface DryTask {
  readonly taskId: string;
  readonly command: string;
  readonly dependencies: readonly string[];
}

/** turbo's plan of a run, as JSON (nothing runs). */
function dry(args: string[]): { tasks: DryTask[]; globalCacheInputs: { environmentVariables: { specified: { passThroughEnv: string[] | null } } } } {
  return JSON.parse(execFileSync(TURBO, ['run', ...args, '--dry=json'], { cwd: ROOT, env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' }, encoding: 'utf8', maxBuffer: 64 << 20 }));
}

function plan(args: string[]): Map<string, DryTask> {
  const tasks = dry(args).tasks.filter((t) => t.command !== '<NONEXISTENT>' && !t.taskId.endsWith('#build'));
  return new Map(tasks.map((t) => [t.taskId, t]));
}

/** Every task a task waits for, directly or not (builds left out). */
function upstream(p: Map<string, DryTask>, id: string, seen = new Set<string>()): Set<string> {
  for (const d of p.get(id)?.dependencies ?? []) {
    if (d.endsWith('#build') || seen.has(d)) continue;
    seen.add(d);
    upstream(p, d, seen);
  }
  return seen;
}

describe('turbo pipelines', () => {
  it("passes herd's own settings through to the tasks (turbo's strict mode would drop them: a device asked with HERD_DEVICE, HERD_THREADS)", () => {
    const passed = dry(['train', '--filter=@herd/video']).globalCacheInputs.environmentVariables.specified.passThroughEnv;
    expect(passed).toEqual(expect.arrayContaining(['HERD_DEVICE', 'HERD_THREADS', 'FFMPEG_BIN', 'FFPROBE_BIN']));
  }, 60_000);

  it('orders the modalities: data → curation → training → eval / export (text curated; images curated as a task of their own), the text core before the export', () => {
    const p = plan(['generate', 'curate', 'train', 'eval', 'export']);
    const direct = (id: string) => (p.get(id)?.dependencies ?? []).filter((d) => !d.endsWith('#build'));
    expect(p.get('@herd/datasets#generate')?.command).toMatch(/generate --size tiny --out out\/tiny/);
    expect(direct('@herd/llama3#curate')).toEqual(['@herd/datasets#generate']);
    expect(p.get('@herd/llama3#curate')?.command).toMatch(/text curate datasets\/out\/tiny\/text out\/text\/curated/);
    expect(direct('@herd/llama3#train')).toEqual(['@herd/llama3#curate']);
    expect(p.get('@herd/llama3#train')?.command).toMatch(/text train --data out\/text\/curated/);
    expect(direct('@herd/llama3#eval')).toEqual(['@herd/llama3#train']);
    expect(direct('@herd/vision#curate')).toEqual(['@herd/datasets#generate']);
    expect(p.get('@herd/vision#curate')?.command).toMatch(/vision curate datasets\/out\/tiny\/images out\/vision\/curated/);
    // The vision adapter: the committed recipe on the clean generated scenes (no curation needed, none consumed), against
    // the committed core — a re-trained core (text train's defaults) is not the one the committed adapter was fitted to.
    expect(direct('@herd/vision#train')).toEqual([]);
    expect(p.get('@herd/vision#train')?.command).toMatch(/vision train --encoder-from packages\/vision\/weights\/mini-word-encoder .*--look-weight 0\.5 .*--qa-steps 3500/);
    expect(direct('@herd/vision#eval')).toEqual(['@herd/vision#train']);
    expect(direct('@herd/cli#export').sort()).toEqual(['@herd/llama3#train', '@herd/vision#train']);
    expect([...upstream(p, '@herd/cli#export')].sort()).toEqual(['@herd/datasets#generate', '@herd/llama3#curate', '@herd/llama3#train', '@herd/vision#train']);
    // One text-core training in the whole plan (the CLI package no longer has a second one).
    expect([...p.keys()].filter((id) => p.get(id)!.command.includes('text train'))).toEqual(['@herd/llama3#train']);
    // Nothing upstream of the core depends on an adapter.
    expect([...upstream(p, '@herd/llama3#train')].sort()).toEqual(['@herd/datasets#generate', '@herd/llama3#curate']);
  }, 60_000);

  it('a filtered run pulls in what its task needs and nothing else', () => {
    const text = plan(['eval', '--filter=@herd/llama3']);
    expect([...text.keys()].sort()).toEqual(['@herd/datasets#generate', '@herd/llama3#curate', '@herd/llama3#eval', '@herd/llama3#train']);
    const vision = plan(['eval', '--filter=@herd/vision']);
    expect([...vision.keys()].sort()).toEqual(['@herd/vision#eval', '@herd/vision#train']);
    // The video recipe starts from trained image weights and a frozen core (the committed ones): a video run re-trains
    // neither (a re-trained core would not be the one its image model learnt on), it trains the committed recipe.
    const video = plan(['eval', '--filter=@herd/video']);
    expect([...video.keys()].sort()).toEqual(['@herd/video#eval', '@herd/video#train']);
    expect(video.get('@herd/video#train')?.command).toMatch(/video train --clips 800 .*--look-weight 2/);
  }, 60_000);
});
