import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { herd } from '../test-support/run-herd.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-curate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Runs `herd <modality> curate` on an empty folder with `config` as its --config file. */
async function curateWith(modality: string, config: unknown) {
  const file = join(dir, `c${n++}.json`);
  writeFileSync(file, JSON.stringify(config));
  const input = join(dir, 'empty');
  mkdirSync(input, { recursive: true });
  return { file, ...(await herd([modality, 'curate', input, join(dir, `out${n}`), '--config', file])) };
}

describe('curate --config: every stage option is checked against its pipeline table before anything runs', () => {
  it('refuses a mistyped stage option with the nearest key, and a value of the wrong kind, naming the file and the path', async () => {
    const r = await curateWith('vision', { dedup: { maxHammin: 3, cropScales: 0.9 }, ocr: { gate: 'yes' }, resample: { threshold: 100, mode: 'sqrrt' } });
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`curation config ${r.file}: invalid stage options:`);
    expect(r.err).toContain("unknown key in dedup: 'maxHammin' (did you mean 'maxHamming'?)");
    expect(r.err).toContain('dedup.cropScales must be a list of numbers, got 0.9');
    expect(r.err).toContain('ocr.gate must be a number or false, got "yes"');
    expect(r.err).toContain(`resample.mode must be one of "sqrt", "metaclip", got "sqrrt" (did you mean 'sqrt'?)`);
    // Code-only options (the quality order, the embedders) cannot come from a file.
    expect((await curateWith('vision', { dedup: { quality: 'clip' } })).err).toContain("unknown key in dedup: 'quality'");
  });

  it('checks the video, speech and text pipelines the same way, nested frame options included', async () => {
    const video = await curateWith('video', { motion: { minScore: '0.1' }, frames: { cont: 8 }, nearDuplicate: { frames: {} } });
    expect(video.err).toContain('motion.minScore must be a number, got "0.1"');
    expect(video.err).toContain("unknown key in frames: 'cont' (did you mean 'count'?)");
    // Frame sampling is one shared key: a stage's own `frames` is not a config-file option.
    expect(video.err).toContain("unknown key in nearDuplicate: 'frames'");
    const speech = await curateWith('speech', { duration: { minSecond: 1 }, vad: { hangoverFrames: 2.5 } });
    expect(speech.err).toContain("unknown key in duration: 'minSecond' (did you mean 'minSeconds'?)");
    expect(speech.err).toContain('vad.hangoverFrames must be an integer, got 2.5');
    const text = await curateWith('text', { nearDuplicates: false, language: { keep: 'en' } });
    expect(text.err).toContain(`unknown key in text curation config ${text.file}: 'nearDuplicates' (did you mean 'nearDuplicate'?)`);
    expect(text.err).toContain('language.keep must be a list of strings or one of "any", got "en"\n');
  });

  it('lets a valid config through to the run (which then names the empty input)', async () => {
    const r = await curateWith('vision', { dedup: { maxHamming: 28, cropScales: [0.9], ann: { k: 16 } }, ocr: false, clipModel: { threshold: null } });
    expect(r.err).not.toMatch(/invalid stage options/u);
    expect(r.err).toMatch(/empty/u);
  });
});
