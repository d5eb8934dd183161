/**
 * `herd generate --audio` and `herd speech` at the edge: a missing, non-audio, undecodable or
 * over-long file ends in one line `herd: <code>: ...` naming the file, before any generation; a good
 * WAV is answered through the committed mini speech checkpoint.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeWav } from '@herd/media';
import { afterAll, describe, expect, it } from 'vitest';
import { herd } from './test-support/run-herd.js';



const HELDOUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'speech', 'fixtures', 'heldout-speech');
const dir = mkdtempSync(join(tmpdir(), 'herd-cli-audio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tone of `seconds` at 16 kHz as WAV bytes. */
function tone(seconds: number): Uint8Array {
  return encodeWav(Int16Array.from({ length: Math.round(seconds * 16000) }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / 16000))), 16000);
}

describe('herd generate --audio', () => {
  it('refuses bad files in one line naming the file', async () => {
    const missing = join(dir, 'none.wav');
    const png = join(dir, 'picture.wav');
    writeFileSync(png, Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(64).fill(0)]));
    const long = join(dir, 'long.wav');
    writeFileSync(long, tone(61));
    const cut = join(dir, 'cut.wav');
    writeFileSync(cut, tone(1).subarray(0, 30)); // a header cut short
    const cases: [string, RegExp][] = [
      [missing, /^herd: io_error: --audio .*none\.wav: no such file/],
      [png, /^herd: invalid_argument: .*picture\.wav: this is a png image, not audio/],
      [long, /^herd: invalid_argument: .*long\.wav: 61\.00 s of audio is over the \d+ s limit/],
      [cut, /^herd: \w+: .*cut\.wav/],
    ];
    for (const [file, want] of cases) {
      const r = await herd(['generate', '--audio', file]);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(want);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.out).toBe('');
    }
  }, 60_000);

  it('answers a good WAV through the mini speech checkpoint', async () => {
    const wav = join(dir, 'tone.wav');
    writeFileSync(wav, tone(1.5));
    const r = await herd(['generate', '--audio', wav, '--max-tokens', '8']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.trim().length).toBeGreaterThan(0);
  }, 60_000);

  it('--transcribe-first hears the spoken question, then the core answers the --prompt text + what it heard', async () => {
    // A held-out voice asking about a scene given in text (packages/speech/fixtures/heldout-speech).
    const item = (JSON.parse(readFileSync(join(HELDOUT, 'items.json'), 'utf8')) as { file: string; transcript: string; context?: string }[]).find((i) => i.file === 'spc-00000322.wav')!;
    const r = await herd(['generate', '--audio', join(HELDOUT, item.file), '--prompt', item.context!, '--transcribe-first', '--max-tokens', '16']);
    expect(r.code, r.err).toBe(0);
    const heard = /^heard: (.*)$/m.exec(r.err)?.[1];
    expect(heard).toBe(item.transcript); // "How many circles are there?" — joint CTC decoding hears it exactly
    // The answer is the core's own answer to the same words typed in.
    const typed = await herd(['generate', '--chat', '--prompt', `${item.context!} ${heard!}`, '--max-tokens', '16']);
    expect(typed.code, typed.err).toBe(0);
    expect(r.out).toBe(typed.out);
    const bare = await herd(['generate', '--audio', join(HELDOUT, item.file), '--transcribe-first']);
    expect(bare.code).toBe(2);
    expect(bare.err).toMatch(/--transcribe-first answers a spoken question about the --prompt text: give --prompt too/);
  }, 60_000);

  it('speech train/eval flags are checked before anything runs', async () => {
    const r = await herd(['speech', 'train', '--steps', '0', '--max-seconds', '90', '--spec-augment', 'maybe', '--task-repeat', 'qa=0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--steps must be an integer ≥ 1, got '0'[\s\S]*--max-seconds must be an integer ≥ 1 and ≤ 60, got '90'/);
    expect(r.err).toMatch(/--spec-augment[^\n]*maybe/);
    expect(r.err).toMatch(/--task-repeat: 'qa=0' is not TASK=N,… with TASK one of asr, qa, ast and N an integer ≥ 1 and ≤ 20/);
    const half = await herd(['speech', 'train', '--task-repeat', 'qa=1.5']);
    expect(half.code).toBe(2);
    expect(half.err).toMatch(/--task-repeat: 'qa=1\.5' is not TASK=N/);
    // The round-19 spelling is gone; the parser lists the flag that replaced it.
    const old = await herd(['speech', 'train', '--qa-repeat', '3']);
    expect(old.code).toBe(2);
    expect(old.err).toMatch(/unknown option --qa-repeat[\s\S]*--task-repeat/);
  });
});
