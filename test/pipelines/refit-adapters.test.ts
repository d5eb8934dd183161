/**
 * scripts/refit-adapters.sh re-fits the adapters to a new core with their committed recipes. Its vision line and the video
 * model's stage 0 are the packages' own `train` scripts (which tests keep equal to the cards' Re-train lines), read when it
 * runs — round 41 found the script's copied lines had drifted from the cards (no look loss, no canvas frame layout). Its
 * --dry-run prints every command and runs none, so the lines it would run are checked here without training anything.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { scriptArgs } from '../../apps/cli/src/test-support/recipe-script.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORE = join(ROOT, 'packages/llama3/weights/mini');
const CORE_FILES = ['config.json', 'model.safetensors', 'vocab.json', 'MODEL_CARD.md', 'training.json'];

/** A core folder that passes the script's checks: the committed core's files, linked. */
function coreCopy(dir: string): string {
  for (const f of CORE_FILES) symlinkSync(join(CORE, f), join(dir, f));
  return dir;
}

/** The script's commands ("+ …" lines on stderr) for a dry run. */
function dryRun(core: string, env: Record<string, string> = {}): string[] {
  const r = spawnSync('bash', [join(ROOT, 'scripts/refit-adapters.sh'), core, '--dry-run'], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr.split('\n').filter((l) => l.startsWith('+ ')).map((l) => l.slice(2));
}

/** A package's `train` script as run from the repository root (`scriptArgs` checks it is `herd PKG train …`). */
function trainScript(pkg: string): string {
  return `node apps/cli/dist/main.js ${pkg} train ${scriptArgs(pkg, 'train', `${pkg} train`).join(' ')}`;
}

describe('scripts/refit-adapters.sh', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'herd-refit-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("re-fits the vision adapter with the vision package's train script, on VISION_DATA when given", () => {
    const core = coreCopy(mkdtempSync(join(tmp, 'core-')));
    const lines = dryRun(core);
    expect(lines).toContain(`${trainScript('vision')} --eval-per-type 50`);
    expect(dryRun(core, { VISION_DATA: '/data/scenes' })).toContain(`${trainScript('vision')} --data '/data/scenes' --eval-per-type 50`);
    // The copy of the core and its reference logits come first; nothing is trained in a dry run.
    expect(lines[0]).toBe('npm run build');
  });

  it("runs the video card's whole recipe (the video package's train script) when stage 0 is asked for", () => {
    const core = coreCopy(mkdtempSync(join(tmp, 'core-')));
    const lines = dryRun(core, { VIDEO_STAGE0: '1', VIDEO_DATA: '/data/clips' });
    expect(lines).toContain(`${trainScript('video')} --data '/data/clips' --vision packages/video/weights/mini-image`);
  });

  it('refuses a core whose vocabulary differs, naming the file and the fix, before anything runs', () => {
    const core = mkdtempSync(join(tmp, 'core-'));
    for (const f of CORE_FILES.filter((f) => f !== 'vocab.json')) symlinkSync(join(CORE, f), join(core, f));
    writeFileSync(join(core, 'vocab.json'), '{}');
    const r = spawnSync('bash', [join(ROOT, 'scripts/refit-adapters.sh'), core, '--dry-run'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${core}/vocab.json differs from packages/llama3/weights/mini/vocab.json: train the core with --init packages/llama3/weights/mini --keep-vocab`);
    expect(r.stderr).not.toMatch(/^\+ /m);
  });
});
