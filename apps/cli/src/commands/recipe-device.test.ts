/**
 * `herd vision|video|speech train --device`: the device the CLI resolved once (from --device, else HERD_DEVICE)
 * is the one handed to the recipe. The recipes are replaced by recorders that stop the run, so no model trains;
 * that each recipe passes its device on to every ONNX session it makes is test/engine/recipe-device.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeDataset } from '@herd/data';
import { resolveDevice } from '@herd/runtime';
import { herd } from '../test-support/run-herd.js';

/** The options each recipe was called with; the recorder then stops the command (a one-line error, exit 1). */
const calls = vi.hoisted(() => [] as { recipe: string; device: unknown }[]);
const recorder = vi.hoisted(() => (recipe: string) => async (o: { device?: unknown }) => {
  calls.push({ recipe, device: o.device });
  throw new Error(`${recipe} recorded`);
});
vi.mock('@herd/vision', async (original) => ({ ...(await original<typeof import('@herd/vision')>()), runMiniVisionRecipe: recorder('vision') }));
vi.mock('@herd/video', async (original) => ({ ...(await original<typeof import('@herd/video')>()), runMiniVideoRecipe: recorder('video') }));
vi.mock('@herd/speech', async (original) => ({ ...(await original<typeof import('@herd/speech')>()), runMiniSpeechRecipe: recorder('speech') }));

const root = mkdtempSync(join(tmpdir(), 'herd-cli-recipe-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => void calls.splice(0));

/** A folder with a manifest: the commands only check that their --data is a dataset before calling the recipe. */
function dataset(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ shards: [] }));
  return dir;
}

async function trainArgs(recipe: 'vision' | 'video' | 'speech'): Promise<string[]> {
  const out = ['--out', join(root, `${recipe}-out`)];
  if (recipe === 'vision') return ['vision', 'train', '--data', dataset('images'), ...out];
  if (recipe === 'video') return ['video', 'train', '--data', dataset('clips'), '--features', root, ...out];
  // speech train reads each generation's seed and count from its manifest.
  const speech = join(root, 'speech');
  await writeDataset(speech, [], { info: { seed: 1, count: 0 } });
  return ['speech', 'train', '--data', speech, '--eval-data', dataset('speech-eval'), '--work', join(root, 'speech-work'), ...out];
}

describe('herd <modality> train hands the resolved device to its recipe', () => {
  for (const recipe of ['vision', 'video', 'speech'] as const) {
    it(recipe, async () => {
      const argv = await trainArgs(recipe);
      // --device auto reaches the recipe resolved (cpu here, a GPU where there is one), never as 'auto'.
      const auto = await herd([...argv, '--device', 'auto']);
      expect(auto.err).toMatch(new RegExp(`^herd: \\w+: ${recipe} recorded`));
      // Without the flag, HERD_DEVICE decides.
      const env = await herd(argv, { env: { HERD_DEVICE: 'cpu' } });
      expect(env.err).toMatch(new RegExp(`^herd: \\w+: ${recipe} recorded`));
      expect(calls).toEqual([{ recipe, device: resolveDevice('auto').device }, { recipe, device: 'cpu' }]);
    }, 60_000);
  }
});
