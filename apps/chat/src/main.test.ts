import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HerdEngine } from './engine.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const VISION_FIXTURE = fileURLToPath(new URL('../../../packages/vision/fixtures/mllama-tiny', import.meta.url));
const MINI_VISION = fileURLToPath(new URL('../../../packages/vision/weights/mini', import.meta.url));
const HELDOUT_SCENE = fileURLToPath(new URL('../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url));
const HERD_CLI = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));

async function herdChat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, ...args], { env: { ...process.env, HERD_DEVICE: '' }, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('herd-chat command line', () => {
  it('--once answers one question through the API and exits 0; a non-image --image exits 1 saying why', async () => {
    const ok = await herdChat(['--once', '--prompt', 'Where is the red ball?', '--max-tokens', '6']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('vision: not loaded');
    const done = JSON.parse(/herd-chat: (\{.*"tokens".*\})/.exec(ok.stderr)![1]!) as { tokens: number };
    expect(done.tokens).toBeGreaterThan(0);
    expect(ok.stdout.trim().length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'herd-chat-'));
    writeFileSync(join(dir, 'scene.png'), 'not a picture');
    const bad = await herdChat(['--once', '--prompt', 'What colour?', '--image', join(dir, 'scene.png')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not_an_image: 'scene\.png' is not an image/);
  });

  it('flags are checked by the core parser: every problem named, exit 2', async () => {
    const r = await herdChat(['--port', '99999', '--queue', '-1', '--colour', 'red']);
    expect(r.code).toBe(2);
    for (const part of ['--port', '--queue', '--colour']) expect(r.stderr).toContain(part);
  });

  it('a vision checkpoint whose core does not share the language core vocabulary is refused by name', async () => {
    await expect(HerdEngine.load({ device: 'cpu', visionDir: VISION_FIXTURE })).rejects.toThrow(/mllama-tiny.*600 text ids.*613.*--model/);
  });

  it('--vision takes herd\'s own mini checkpoint: an image question is answered through the API exactly as `herd generate --image` answers it', async () => {
    const prompt = 'Where is the circle?';
    const chat = await herdChat(['--once', '--vision', MINI_VISION, '--image', HELDOUT_SCENE, '--prompt', prompt, '--max-tokens', '12']);
    expect(chat.code, chat.stderr).toBe(0);
    expect(chat.stderr).toContain(`vision: ${MINI_VISION}`);
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', HERD_CLI, 'generate', '--image', HELDOUT_SCENE, '--prompt', prompt, '--max-tokens', '12'], { env: { ...process.env, HERD_DEVICE: '' }, timeout: 90_000 });
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(chat.stdout.trim()).toBe(stdout.trim());
  });
});
