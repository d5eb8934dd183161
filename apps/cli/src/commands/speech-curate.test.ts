import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeWav } from '@herd/media';
import { herd } from '../test-support/run-herd.js';



const dir = mkdtempSync(join(tmpdir(), 'herd-speech-curate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('herd speech curate', () => {
  it('curates a folder of audio + transcripts, prints per-stage drops, reads a config; a bad --shard is a usage error', async () => {
    const src = join(dir, 'in');
    mkdirSync(src);
    // A 2 s vowel-like sound with pauses, and a file that is not audio.
    const pcm = new Int16Array(32000).map((_, i) => (i > 4000 && i < 28000 && Math.floor(i / 2000) % 3 !== 0 ? Math.round(8000 * Math.sin((2 * Math.PI * 180 * i) / 16000) + 3000 * Math.sin((2 * Math.PI * 540 * i) / 16000)) : 0));
    writeFileSync(join(src, 'a.wav'), encodeWav(pcm, 16000));
    writeFileSync(join(src, 'a.txt'), 'a red circle is above a blue square');
    writeFileSync(join(src, 'b.wav'), 'this is not audio at all, just text in a file named .wav');
    writeFileSync(join(src, 'b.txt'), 'a green star');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ language: false, duration: { minSeconds: 1 } }));
    const r = await herd(['speech', 'curate', src, join(dir, 'out'), '--config', config]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^2 in, 1 kept/);
    expect(r.out).toMatch(/audio +1 kept +1 dropped {2}not_audio 1/);
    expect(r.out).not.toMatch(/language/);
    expect(readFileSync(join(dir, 'out', 'report.md'), 'utf8')).toMatch(/# Speech curation report/);
    const bad = await herd(['speech', 'curate', src, join(dir, 'out2'), '--shard', '3/2']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--shard must look like i\/N/);
  });
});
