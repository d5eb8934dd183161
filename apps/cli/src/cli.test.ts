/**
 * The `herd` command at its edge: bad input of every kind ends, before any model loads or any file
 * is written, in one line `herd: <code>: <message>` naming the flag or file, with exit status 2 for
 * usage mistakes and 1 for other errors. Commands are called in-process through runCli (the same
 * function main.ts calls); the crash that needs a real process is checked by spawning the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generateWorld } from '@herd/datasets';
import { MINI_CORE_DIR } from '@herd/llama3';
import { cudaMissing } from '@herd/runtime';
import { architectureOverrides } from './commands/train-text.js';
import { herd } from './test-support/run-herd.js';

const here = dirname(fileURLToPath(import.meta.url));
const TINY_HF = join(here, '..', '..', '..', 'packages', 'llama3', 'fixtures', 'hf-tiny-gqa-untied');
const MAIN_JS = join(here, '..', 'dist', 'main.js');

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'herd-cli-'));
  dirs.push(d);
  return d;
}



/** One error line (a ProblemList adds indented lines under it), no stack trace. */
function expectErrorLine(err: string, code: string): void {
  expect(err).toMatch(new RegExp(`^herd: ${code}: `));
  expect(err).not.toMatch(/\n\s+at /);
}

/** A copy of the mini core, so tests may damage or update it. */
function miniCopy(): string {
  const d = join(tmp(), 'mini');
  cpSync(MINI_CORE_DIR, d, { recursive: true });
  return d;
}

describe('numbers and words are checked before anything runs', () => {
  // --model names a folder that does not exist: had a command run, the error would be about it.
  const missing = join(tmpdir(), 'herd-no-such-model');
  const cases: [string[], RegExp][] = [
    [['eval', 'text', '--model', missing, '--n', '0'], /--n must be an integer ≥ 1, got '0'/],
    [['generate', '--model', missing, '--prompt', 'x', '--max-tokens', '-5'], /--max-tokens must be an integer ≥ 1, got '-5'/],
    [['generate', '--model', missing, '--prompt', 'x', '--max-tokens', '2.5'], /--max-tokens must be an integer ≥ 1, got '2.5'/],
    [['generate', '--model', missing, '--prompt', 'x', '--temperature', '-1'], /--temperature must be a number ≥ 0, got '-1'/],
    [['generate', '--model', missing, '--prompt', 'x', '--top-p', '2'], /--top-p must be a number > 0 and ≤ 1, got '2'/],
    [['generate', '--model', missing, '--prompt', 'x', '--seed', '0.5'], /--seed must be an integer ≥ 0 and ≤ 4294967295, got '0.5'/],
    [['train', 'text', '--steps', '0'], /--steps must be an integer ≥ 1, got '0'/],
    [['text', 'train', '--steps', '0'], /--steps must be an integer ≥ 1, got '0'/],
    [['text', 'train', '--keep-vocab', '--reply-loss', '--steps', '1'], /--keep-vocab keeps the vocabulary of the --init core; pass --init DIR/],
    [['text', 'train', '--untie-embeddings', '--steps', '1'], /--untie-embeddings unties the tied embedding of the --init core; pass --init DIR/],
    [['text', 'train', '--grow-layers', '6', '--steps', '1'], /--grow-layers deepens the --init core; pass --init DIR/],
    [['text', 'train', '--init', 'packages/llama3/weights/mini', '--grow-layers', '1'], /--grow-layers must be an integer ≥ 2, got '1'/],
    [['text', 'train', '--kv-heads', '8', '--init', missing], /--kv-heads sets a fresh core's architecture; --init continues its core with that core's own \(its config.json\); drop --kv-heads or --init/],
    [['text', 'train', '--kv-heads', '8', '--rope-theta', '10000', '--init', missing], /--kv-heads and --rope-theta set a fresh core's architecture[\s\S]*drop --kv-heads and --rope-theta or --init/],
    [['text', 'train', '--kv-heads', '3', '--steps', '1'], /--kv-heads 3: must divide the 8 query heads of the mini preset \(1, 2, 4, 8\)/],
    [['text', 'train', '--rope-theta', '0', '--steps', '1'], /--rope-theta must be a number > 0, got '0'/],
    [['text', 'train', '--key-word-weight', '5', '--steps', '1'], /--key-word-weight weighs the key words of dialogue replies; it needs --reply-loss/],
    [['text', 'train', '--key-word-weight', '0', '--reply-loss'], /--key-word-weight must be a number > 0, got '0'/],
    [['generate', '--model', missing, '--prompt', 'x', '-n', '5'], /unknown option -n[\s\S]*unexpected argument '5'/],
    [['generate', '--model', missing, '--chat', 'yes', '--prompt', 'x'], /unexpected argument 'yes'/],
    [['generate', '--model', missing, '--prompt', 'x', '--device', 'tpu'], /--device must be one of cpu, webgpu, cuda, auto, got 'tpu'/],
    [['audio', 'train'], /unknown command 'audio train'; commands: 'generate', 'chat', 'text train', 'text eval', 'text freeze', 'text curate', 'text export', 'vision train', 'vision eval', 'vision curate', 'vision export', 'speech train', 'speech eval', 'speech curate', 'speech export', 'video train', 'video eval', 'video curate', 'video export', 'curate-worker', 'export', 'info'/],
    [['video', 'bogus'], /'herd video' needs one of: train, eval, curate, export \(got 'bogus'\)/],
    [['video', 'export'], /--out DIR is required: the folder the export is written to/],
    [['video', 'train', '--qa-steps', '-1', '--clips', '0'], /2 problems[\s\S]*--qa-steps must be an integer ≥ 0, got '-1'[\s\S]*--clips must be an integer ≥ 1, got '0'/],
    [['video', 'train', '--aggregator-steps', '-1', '--aggregator-lr', '0'], /2 problems[\s\S]*--aggregator-steps must be an integer ≥ 0, got '-1'[\s\S]*--aggregator-lr must be/],
    [['video', 'train', '--blind'], /--blind trains a control, not a checkpoint to use: give --out DIR/],
    [['video', 'train', '--motion-weight', '-1', '--frame-difference', '-2'], /2 problems[\s\S]*--motion-weight must be a number ≥ 0, got '-1'[\s\S]*--frame-difference must be a number ≥ 0, got '-2'/],
    [['video', 'train', '--motion-weight', '1', '--out', join(missing, 'v')], /--motion-weight trains a head in stage 0: give --aggregator-steps N too/],
    [['video', 'train', '--init', join(missing, 'v'), '--aggregator-steps', '5'], /--init starts from a trained aggregator: leave out --aggregator-steps, --frame-difference, --position-embedding and --motion-query/],
    [['video', 'train', '--init', join(missing, 'v'), '--motion-query'], /--init starts from a trained aggregator: leave out [\s\S]*--motion-query/],
    [['video', 'train', '--motion-query', 'yes', '--out', join(missing, 'v')], /unexpected argument 'yes'/],
    [['video', 'train', '--motion-tokens', 'yes', '--out', join(missing, 'v')], /unexpected argument 'yes'/],
    [['video', 'train', '--init', join(missing, 'v'), '--xattn-from-image', '--out', join(missing, 'w')], /--xattn-from-image sets fresh video cross-attention layers; --init starts from trained ones: give one of them/],
    [['video', 'train', '--lookup-weight', '-1', '--out', join(missing, 'v')], /--lookup-weight must be a number ≥ 0, got '-1'/],
    [['video', 'train', '--lookup-weight', 'much', '--out', join(missing, 'v')], /--lookup-weight must be a number ≥ 0, got 'much'/],
    [['video', 'train', '--lookup-weight', '1', '--out', join(missing, 'v')], /--lookup-weight trains where the video layers look among the object-motion tokens: give --motion-tokens too/],
    [['video', 'train', '--look-weight', '-1', '--out', join(missing, 'v')], /--look-weight must be a number ≥ 0, got '-1'/],
    [['video', 'train', '--look-weight', '1', '--out', join(missing, 'v')], /--look-weight trains where the video layers look among the object-motion tokens: give --motion-tokens too/],
    [['video', 'train', '--look-weight', '1', '--lookup-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-weight and --lookup-weight are two losses on the same rows: give one/],
    [['video', 'train', '--look-layers', '0', '--motion-tokens', '--out', join(missing, 'v')], /--look-layers says which video layers the look loss trains: give --look-weight W too/],
    [['video', 'train', '--look-latents', '--motion-tokens', '--out', join(missing, 'v')], /--look-latents widens the look loss's target: give --look-weight W too/],
    [['video', 'train', '--look-movers', '2', '--motion-tokens', '--out', join(missing, 'v')], /--look-movers says which clips the look loss marks: give --look-weight W too/],
    [['video', 'train', '--look-rows', 'answer', '--motion-tokens', '--out', join(missing, 'v')], /--look-rows says which rows the look loss marks: give --look-weight W too/],
    [['video', 'train', '--look-rows', 'answer,word', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-rows takes distinct ones of name, answer, got 'answer,word'/],
    [['video', 'train', '--look-fewer', 'latents', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-fewer marks the clips --look-movers leaves out: give --look-movers N \(N > 1\) too/],
    [['video', 'train', '--look-fewer', 'all', '--look-movers', '2', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-fewer takes 'latents', got 'all'/],
    [['video', 'train', '--look-movers', '0', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-movers must be an integer ≥ 1, got '0'/],
    [['video', 'train', '--look-layers', 'first', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-layers must be layer indices like 0 or 0,1, got 'first'/],
    [['video', 'train', '--look-layers', '1,2', '--look-weight', '1', '--motion-tokens', '--out', join(missing, 'v')], /--look-layers 1,2: the video model on .*mini-image has 2 video layers \(0\.\.1\)/],
    [['video', 'train', '--motion-readout', '--out', join(missing, 'v')], /--motion-readout reads the object-motion tokens: give --motion-tokens too/],
    [['video', 'train', '--frame-layout', 'canvas', '--out', join(missing, 'v')], /--frame-layout canvas places the frame tokens .*: give --motion-query or --motion-tokens too/],
    [['video', 'train', '--frame-layout', 'diagonal', '--out', join(missing, 'v')], /--frame-layout must be one of slots, canvas, got 'diagonal'/],
    [['video', 'train', '--motion-readout', 'yes', '--motion-tokens', '--out', join(missing, 'v')], /unexpected argument 'yes'/],
    [['video', 'train', '--row-gates', 'yes', '--out', join(missing, 'v')], /unexpected argument 'yes'/],
    [['video', 'train', '--direction-named', 'yes', '--out', join(missing, 'v')], /unexpected argument 'yes'/],
    [['video', 'train', '--aggregator-from', join(missing, 'v'), '--aggregator-steps', '5', '--out', join(missing, 'w')], /--aggregator-from gives a trained, frozen aggregator: leave out --init, --aggregator-steps and --train-aggregator/],
    [['video', 'train', '--features', join(tmpdir(), 'herd-no-features-here'), '--out', join(missing, 'v')], /--features .*herd-no-features-here: not an existing folder/],
    [['video', 'eval', '--features', join(tmpdir(), 'herd-no-features-here'), '--video', join(missing, 'v')], /--features .*herd-no-features-here: not an existing folder/],
    [['video', 'train', '--look-vision', join(missing, 'vis'), '--out', join(missing, 'v')], /--look-vision adds to the object-motion tokens of fresh video layers: give --motion-tokens, and not --init/],
    [['video', 'train', '--look-vision', join(missing, 'vis'), '--motion-tokens', '--init', join(missing, 'v')], /--look-vision adds to the object-motion tokens of fresh video layers: give --motion-tokens, and not --init/],
    [['video', 'train', '--look-keys', '--motion-tokens', '--out', join(missing, 'v')], /--look-keys says where the look input goes: give --look-vision DIR too/],
    [['video', 'train', '--qa-repeat', 'direction=3,colour=2', '--out', join(missing, 'v')], /--qa-repeat: 'colour=2' is not TYPE=N,… with TYPE one of direction, moving, which, event, count and N an integer ≥ 0 and ≤ 20/],
    [['video', 'train', '--qa-repeat', 'direction=3,direction=2', '--out', join(missing, 'v')], /--qa-repeat: direction is given more than once/],
    [['vision', 'train', '--qa-steps', '-1', '--batch', '0'], /2 problems[\s\S]*--qa-steps must be an integer ≥ 0, got '-1'[\s\S]*--batch must be an integer ≥ 1, got '0'/],
    [['vision', 'train', '--select-every', '-1', '--select-per-type', '0'], /2 problems[\s\S]*--select-every must be an integer ≥ 0, got '-1'[\s\S]*--select-per-type must be an integer ≥ 1, got '0'/],
    [['vision', 'train', '--select-per-type', '30'], /--select-per-type sets the size of the checkpoint selection's validation: give --select-every N too/],
    [['vision', 'train', '--train-encoder-global'], /--train-encoder-global trains the global layers of a frozen encoder: give --freeze-encoder too/],
    [['vision', 'train', '--train-projector-from-phase', '0'], /--train-projector-from-phase must be an integer ≥ 1, got '0'/],
    [['vision', 'train', '--train-projector-from-phase', '2', '--key-word-types', 'colour/shape'], /--train-projector-from-phase delays the projector of a frozen encoder: give --freeze-encoder and --train-projector too/],
    [['vision', 'train', '--train-projector-from-phase', '3', '--freeze-encoder', '--train-projector', '--key-word-types', 'colour/shape'], /--train-projector-from-phase 3: the QA stage has 2 phases/],
    [['vision', 'train', '--place-embeddings', '65'], /--place-embeddings must be an integer ≥ 0 and ≤ 64, got '65'/],
    [['vision', 'train', '--place-embeddings', 'x'], /--place-embeddings must be an integer/],
    [['vision', 'train', '--place-embeddings', '6', '--place-init', '-0.5'], /--place-init must be a number ≥ 0, got '-0.5'/],
    [['vision', 'train', '--place-init', '0.1'], /--place-init is the init of --place-embeddings: give --place-embeddings G too/],
    [['vision', 'train', '--key-word-draw', 'random'], /--key-word-draw must be one of question, type, got 'random'/],
    [['vision', 'train', '--key-word-count-balance'], /--key-word-count-balance balances the key-word sequences' count questions: give --key-word-share above 0 too/],
    [['vision', 'train', '--key-word-reshape', '0.5'], /--key-word-reshape reshapes the key-word sequences: give --key-word-share above 0 too/],
    [['vision', 'train', '--key-word-reshape', '2', '--key-word-share', '0.5'], /--key-word-reshape/],
    [['vision', 'train', '--image-stream-dropout', '0.5'], /--image-stream-dropout shuts the image stream so the silhouette stream answers alone: give --silhouette-stream too/],
    [['vision', 'train', '--image-stream-dropout', '0.5', '--silhouette-stream'], /--image-stream-dropout applies to the key-word sequences: give --key-word-share above 0 too/],
    [['vision', 'train', '--look-weight', '0.5'], /--look-weight trains where the key-word sequences' replies look: give --key-word-share above 0 too/],
    [['vision', 'train', '--step-log', fileURLToPath(import.meta.url)], /--step-log .*cli\.test\.ts: that is a file; give a folder/],
    [['vision', 'train', '--look-weight', '-1'], /--look-weight must be a number ≥ 0, got '-1'/],
    [['vision', 'train', '--look-types', 'word'], /--look-types says which sequences the look loss marks: give --look-weight W too/],
    [['vision', 'train', '--key-word-share', '0.75', '--look-weight', '0.5', '--look-types', 'colour,size'], /--look-types "colour,size": expected comma-separated question types the look loss marks, of colour, shape, count, position, word \(not "size"\)/],
    [['vision', 'train', '--key-word-weights', 'word=2'], /--key-word-weights weighs the types of the type draw: give --key-word-draw type too/],
    [['vision', 'train', '--key-word-draw', 'type', '--key-word-weights', 'speed=2'], /--key-word-weights: 'speed=2' is not TYPE=N,…/],
    [['vision', 'train', '--answer-form', 'position,shape'], /--answer-form "position,shape": expected comma-separated question types with answer-form words, of position, count \(not "shape"\)/],
    [['vision', 'export'], /--out DIR is required/],
    [['vision', 'bogus'], /'herd vision' needs one of: train, eval, curate, export \(got 'bogus'\)/],
    [['generate', '--model', missing, '--prompt', 'x', '--image'], /--image needs a value/],
    [['text', 'bogus'], /'herd text' needs one of: train, eval, freeze, curate, export \(got 'bogus'\)/],
    [['text', 'curate'], /2 problems[\s\S]*missing input[\s\S]*missing output/],
    // The modality recipes and their evals take the one --device flag (the same choices as generate and text train).
    ...(['vision', 'video', 'speech'] as const).flatMap((m) => (['train', 'eval'] as const).map((c): [string[], RegExp] => [[m, c, '--device', 'foo'], /--device must be one of cpu, webgpu, cuda, auto, got 'foo'/])),
  ];
  for (const [argv, message] of cases) {
    it(`herd ${argv.join(' ')}`, async () => {
      const r = await herd(argv);
      expect(r.code).toBe(2);
      expectErrorLine(r.err, 'invalid_argument');
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/herd-no-such-model/);
      expect(r.out).toBe('');
    });
  }
  it('text train --init of a missing core fails on the core before any corpus is generated', async () => {
    const r = await herd(['text', 'train', '--init', missing, '--grow-layers', '6']);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'io_error');
    expect(r.err).toMatch(/no language core at .*herd-no-such-model/);
    expect(r.err).not.toMatch(/generating the tiny world's text/);
  });
  it('--motion-tokens goes with --init (it adds no parameters): the missing checkpoint is what fails, not the flags', async () => {
    const r = await herd(['video', 'train', '--init', join(missing, 'v'), '--motion-tokens', '--out', join(missing, 'w')]);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'io_error');
    expect(r.err).toMatch(/no video checkpoint at .*herd-no-such-model.v: expected config\.json/);
  });

  it('text train --kv-heads / --rope-theta become the fresh core\'s preset overrides (none given: the preset as it is)', () => {
    expect(architectureOverrides(8, 10000, undefined)).toEqual({ nKvHeads: 8, ropeTheta: 10000 });
    expect(architectureOverrides(undefined, 1e6, undefined)).toEqual({ ropeTheta: 1e6 });
    expect(architectureOverrides(undefined, undefined, undefined)).toBeUndefined();
    expect(architectureOverrides(undefined, undefined, 'some/core')).toBeUndefined();
    expect(() => architectureOverrides(4, undefined, 'some/core')).toThrow(/--kv-heads sets a fresh core's architecture/);
  });

  it('herd video eval --data DIR without a clips dataset there fails naming the folder, nothing generated', async () => {
    const r = await herd(['video', 'eval', '--data', join(missing, 'clips')]);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'invalid_argument');
    expect(r.err).toMatch(/--data .*herd-no-such-model\/clips: no clips dataset there/);
  });

  // Each of these would otherwise first synthesise its default dataset (thousands of scenes, clips or
  // utterances, minutes of work) under ./out, and only then find the checkpoint missing.
  const wrongCheckpoint: [string[], RegExp][] = [
    [['vision', 'eval', '--vision', missing], /no vision checkpoint at .*herd-no-such-model/],
    [['vision', 'train', '--encoder-from', missing], /herd-no-such-model\/config\.json: no such file \(the --encoder-from encoder's config\)/],
    [['speech', 'eval', '--speech', missing], /no speech checkpoint at .*herd-no-such-model/],
    [['speech', 'train', '--init', missing], /no speech checkpoint at .*herd-no-such-model/],
    [['video', 'eval', '--video', missing], /no video checkpoint at .*herd-no-such-model/],
    [['video', 'train', '--vision', missing, '--out', join(missing, 'out')], /no vision checkpoint at .*herd-no-such-model/],
    [['vision', 'eval', '--core', missing], /no language core at .*herd-no-such-model/],
    [['speech', 'eval', '--core', missing], /no language core at .*herd-no-such-model/],
    [['video', 'eval', '--core', missing], /no language core at .*herd-no-such-model/],
  ];
  for (const [argv, message] of wrongCheckpoint) {
    it(`herd ${argv.slice(0, 3).join(' ')} names the missing checkpoint before generating any data`, async () => {
      const cwd = process.cwd();
      const dir = tmp();
      process.chdir(dir); // the default datasets live under ./out
      try {
        const r = await herd(argv);
        expect(r.code).toBe(1);
        expectErrorLine(r.err, 'io_error');
        expect(r.err).toMatch(message);
        expect(existsSync(join(dir, 'out'))).toBe(false);
      } finally {
        process.chdir(cwd);
      }
    });
  }

  it('herd vision train --vision-preset NAME with an unknown preset fails naming the valid ones, before any scene is generated', async () => {
    const cwd = process.cwd();
    const dir = tmp();
    process.chdir(dir);
    try {
      const r = await herd(['vision', 'train', '--vision-preset', 'mini-patch3']);
      expect(r.code).toBe(1);
      expectErrorLine(r.err, 'invalid_config');
      expect(r.err).toMatch(/unknown vision preset "mini-patch3"; valid presets: .*mini, mini-patch4/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });

  it('herd vision train --cross-before with a bad schedule fails naming it, before any scene is generated', async () => {
    const cases: [string, RegExp][] = [
      ['1,x', /--cross-before "1,x": expected comma-separated core layer numbers such as 1,3 \(not "x"\)/],
      ['0,4', /cross-attention schedule: 4 is not a core layer \(the core has layers 0–3\)/],
      ['2,2', /cross-attention schedule: core layer listed twice in 2,2/],
    ];
    for (const [value, message] of cases) {
      const r = await herd(['vision', 'train', '--cross-before', value, '--data', join(missing, 'images'), '--qa-steps', '1']);
      expect(r.code).toBe(1);
      expectErrorLine(r.err, 'invalid_argument');
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/no images dataset|generating/);
    }
  });

  it('herd vision train --core DIR without a core there fails naming it, before any scene is generated', async () => {
    const r = await herd(['vision', 'train', '--core', missing, '--data', join(missing, 'images'), '--qa-steps', '1']);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'io_error');
    expect(r.err).toMatch(/no language core at .*herd-no-such-model: expected config.json/);
    expect(r.err).not.toMatch(/generating/);
  });

  it('an invalid HERD_DEVICE is refused, listing the choices, before the model folder is looked at', async () => {
    const r = await herd(['eval', 'text', '--model', missing], { env: { HERD_DEVICE: 'gpu' } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^herd: invalid_argument: HERD_DEVICE must be one of cpu, webgpu, cuda, auto, got 'gpu'/);
  });

  it('an invalid HERD_THREADS is refused, naming it, before the model folder is looked at', async () => {
    const r = await herd(['eval', 'text', '--model', missing], { env: { HERD_THREADS: 'two' } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^herd: invalid_argument: HERD_THREADS must be a positive integer \(CPU threads per session\), got 'two'/);
  });

  it('an unavailable device fails before the model loads', async () => {
    if (cudaMissing() === undefined) return; // with CUDA installed there is nothing to refuse
    const r = await herd(['generate', '--prompt', 'x', '--model', missing, '--device', 'cuda']);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'device_unavailable');
    expect(r.err).not.toMatch(/herd-no-such-model/);
    // So do the modality recipes and evals: before the core, the checkpoint or any data is looked at.
    for (const argv of [['vision', 'train', '--core', missing], ['video', 'train', '--core', missing], ['speech', 'train', '--core', missing], ['vision', 'eval', '--vision', missing], ['video', 'eval', '--video', missing], ['speech', 'eval', '--speech', missing]]) {
      const m = await herd([...argv, '--device', 'cuda']);
      expect(m.code, argv.join(' ')).toBe(1);
      expectErrorLine(m.err, 'device_unavailable');
      expect(m.err).toMatch(/device 'cuda' is unavailable/);
      expect(m.err).not.toMatch(/herd-no-such-model/);
    }
  });

  it('--help works on a command with required arguments, before they are checked', async () => {
    const r = await herd(['speech', 'curate', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: herd speech curate input output \[flags\]/);
    expect(r.out).toMatch(/--shard i\/N/);
  });

  it('help lists each command and its flags with what they allow', async () => {
    const all = await herd(['--help']);
    expect(all.code).toBe(0);
    for (const c of ['herd generate', 'herd text train', 'herd text eval', 'herd info [checkpoint]', 'herd train text', 'herd eval text']) expect(all.out).toContain(c);
    const one = await herd(['eval', 'text', '--help']);
    expect(one.out).toMatch(/--n N +.*an integer ≥ 1 \(default 100\)/);
    const vision = await herd(['vision', 'train', '--help']);
    expect(vision.out).toMatch(/--answer-form TYPES +.*answer-form words.*: position \(on \/ in \/ near \/ at\), count \(is \/ are\); e\.g\. position,count/);
    expect(vision.out).toMatch(/--position-form +the same as --answer-form position/);
  });
});

describe('herd vision eval --count-balance', () => {
  it('draws count items balanced by the reference number (zero included) and prints count by number; the default draw asks only the first count question', async () => {
    const dir = tmp();
    await generateWorld({ out: dir, size: 'tiny', only: ['images'], counts: { images: 120 }, noiseRate: 0, seed: 11 });
    const data = join(dir, 'images');
    const balanced = await herd(['vision', 'eval', '--data', data, '--per-type', '4', '--count-balance', '--json'], { env: { HERD_THREADS: '1' } });
    expect(balanced.code, balanced.err).toBe(0);
    const r = JSON.parse(balanced.out) as { n: { count: number }; byCount: { number: number; n: number; adapterSaid: Record<string, number> }[] };
    expect(r.n.count).toBe(4);
    expect(r.byCount.map((c) => c.number)).toContain(0); // every scene asks about an absent shape too
    expect(r.byCount.map((c) => c.number)).toContain(1);
    const ns = r.byCount.map((c) => c.n);
    expect(Math.max(...ns) - Math.min(...ns)).toBeLessThanOrEqual(1); // equal shares
    expect(r.byCount.map((c) => Object.values(c.adapterSaid).reduce((a, b) => a + b, 0))).toEqual(ns);
    const plain = await herd(['vision', 'eval', '--data', data, '--per-type', '4'], { env: { HERD_THREADS: '1' } });
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/count by the reference number:\n\| count reference \| n \| adapter \| blind control \| scene in words \| adapter said/);
    expect(plain.out).not.toMatch(/^\| 0 \| /m); // the first count question of a scene names a shape that is there
    // --core-only: the same items' core-alone and in-words rows, no vision checkpoint read.
    const full = JSON.parse((await herd(['vision', 'eval', '--data', data, '--per-type', '4', '--count-balance', '--json'], { env: { HERD_THREADS: '1' } })).out) as { n: unknown; accuracy: Record<string, unknown> };
    const coreOnly = await herd(['vision', 'eval', '--data', data, '--per-type', '4', '--count-balance', '--core-only', '--json'], { env: { HERD_THREADS: '1' } });
    expect(coreOnly.code, coreOnly.err).toBe(0);
    expect(JSON.parse(coreOnly.out)).toEqual({ n: full.n, accuracy: { core: full.accuracy['core'], described: full.accuracy['described'] } });
    const table = await herd(['vision', 'eval', '--data', data, '--per-type', '4', '--core-only'], { env: { HERD_THREADS: '1' } });
    expect(table.out).toMatch(/^\| core alone \(no image\) \|.*\n\| core \+ scene in words \(upper bound\) \|[^\n]*\n$/m);
    expect(table.out).not.toMatch(/vision adapter/);
    for (const [extra, why] of [[['--vision', dir], /--core-only reads no vision checkpoint/], [['--answers', join(dir, 'a.jsonl')], /--core-only has two rows/]] as const) {
      const refused = await herd(['vision', 'eval', '--data', data, '--core-only', ...extra]);
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(why);
    }
    const bad = await herd(['vision', 'eval', '--count-balance', 'yes']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unexpected argument 'yes'/);
  }, 300_000);
});

describe('herd eval text --answers', () => {
  it('writes every graded answer as a JSON line', async () => {
    const file = join(tmp(), 'answers.jsonl');
    const r = await herd(['eval', 'text', '--n', '1', '--per-type', '0', '--answers', file], { env: { HERD_THREADS: '1' } });
    expect(r.code, r.err).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['group']).sort()).toEqual(['heldout-combos', 'train-combos']);
    for (const l of lines) {
      expect(typeof l['question']).toBe('string');
      expect(typeof l['reference']).toBe('string');
      expect(typeof l['answer']).toBe('string');
      expect(typeof l['graded']).toBe('boolean');
    }
    // The file agrees with the printed score.
    const keywords = lines.filter((l) => l['graded']).length;
    expect(r.out).toContain(`key words ${(50 * keywords).toFixed(1)}%`);
  });
});

describe('herd eval text --update-card', () => {
  it('--n 0 leaves the model card and results as they are', async () => {
    const dir = miniCopy();
    const card = readFileSync(join(dir, 'MODEL_CARD.md'));
    const results = readFileSync(join(dir, 'eval-text.json'));
    const r = await herd(['eval', 'text', '--model', dir, '--n', '0', '--update-card']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--n must be an integer ≥ 1/);
    expect(readFileSync(join(dir, 'MODEL_CARD.md')).equals(card)).toBe(true);
    expect(readFileSync(join(dir, 'eval-text.json')).equals(results)).toBe(true);
  });
});

describe('a broken model folder ends in one line naming the file', () => {
  function folderWithConfig(write: (path: string) => void): string {
    const dir = join(tmp(), 'model');
    cpSync(TINY_HF, dir, { recursive: true });
    rmSync(join(dir, 'config.json'));
    write(join(dir, 'config.json'));
    return dir;
  }
  const broken: [string, (p: string) => void, string, RegExp][] = [
    ['not JSON', (p) => writeFileSync(p, '{"hidden_size": 64,'), 'corrupt_data', /config\.json is not acceptable JSON: .* at line 1 column 20/],
    ['empty', (p) => writeFileSync(p, ''), 'corrupt_data', /config\.json is empty/],
    ['a directory', (p) => mkdirSync(p), 'io_error', /config\.json is a directory, not a file/],
    ['a JSON array', (p) => writeFileSync(p, '[]'), 'corrupt_data', /config\.json must hold a JSON object/],
  ];
  for (const [what, write, code, message] of broken) {
    it(`config.json ${what}`, async () => {
      const dir = folderWithConfig(write);
      for (const argv of [['generate', '--prompt', 'x', '--model', dir], ['info', dir]]) {
        const r = await herd(argv);
        expect(r.code).toBe(1);
        expectErrorLine(r.err, code);
        expect(r.err).toMatch(message);
        expect(r.err).toContain(join(dir, 'config.json'));
      }
    });
  }

  it('a config.json with a UTF-8 byte-order mark is accepted (as the config reader does)', async () => {
    const dir = folderWithConfig((p) => writeFileSync(p, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(join(TINY_HF, 'config.json'))])));
    const r = await herd(['info', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/vocabulary:/);
  });

  it('unknown keys in a model config.json are warned about, naming the key, and the model still runs', async () => {
    const dir = join(tmp(), 'mini');
    cpSync(MINI_CORE_DIR, dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_sizee: 64 }));
    const r = await herd(['generate', '--model', dir, '--prompt', 'a red', '--max-tokens', '1']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/herd: warning: .*hidden_sizee/);
  });

  it('model.safetensors that is a FIFO is refused, not waited on', async () => {
    const dir = join(tmp(), 'model');
    cpSync(TINY_HF, dir, { recursive: true });
    rmSync(join(dir, 'model.safetensors'));
    const made = spawnSync('mkfifo', [join(dir, 'model.safetensors')]);
    expect(made.status, 'mkfifo (coreutils) is needed for this test').toBe(0);
    const r = await herd(['generate', '--prompt', 'x', '--model', dir]);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'io_error');
    expect(r.err).toMatch(/model\.safetensors is a FIFO \(named pipe\), not a regular file/);
  });

  it('a model whose vocabulary does not fit the tokenizer is refused before ONNX Runtime runs', async () => {
    // The fixture has 256 token rows and no pruned vocabulary: Llama 3 ids reach 128,255.
    const r = await herd(['generate', '--prompt', 'x', '--model', TINY_HF]);
    expect(r.code).toBe(1);
    expectErrorLine(r.err, 'checkpoint_mismatch');
    expect(r.err).toMatch(/the model has \d+ token rows \(vocab_size\) but the Llama 3 tokenizer produces ids up to 128,255/);
    expect(r.out).toBe('');
    const info = await herd(['info', TINY_HF]);
    expect(info.code).toBe(0);
    expect(info.out).toMatch(/vocabulary: .*does NOT fit the tokenizer/);
  });

  it('--verbose adds the stack', async () => {
    const r = await herd(['generate', '--prompt', 'x', '--model', join(tmpdir(), 'herd-no-such-model'), '--verbose']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^herd: device cpu \(cpu from default: requested\)\nherd: io_error: no model folder at /);
    expect(r.err).toMatch(/\n\s+at /);
  });
});

describe('prompts', () => {
  it('--prompt over the command-line limit is refused with the limit and the alternatives', async () => {
    const r = await herd(['generate', '--prompt', 'a'.repeat(30_000)]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--prompt is 30,000 bytes; the limit on the command line is 16,384 \(.*--prompt-file FILE.*--prompt -\)/);
  });

  it('the built CLI refuses a 30 KB --prompt with exit 2 instead of crashing in ONNX Runtime (exit 139)', () => {
    expect(existsSync(MAIN_JS), `build first (npm run build): ${MAIN_JS}`).toBe(true);
    const r = spawnSync(process.execPath, [MAIN_JS, 'generate', '--prompt', 'a'.repeat(30_000)], { encoding: 'utf8', env: { ...process.env, HERD_DEVICE: '' } });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^herd: invalid_argument: --prompt is 30,000 bytes/);
  });

  it('--prompt-file, --prompt - (stdin) and --prompt give the same greedy continuation; "" does not shift flags', async () => {
    const text = 'a small green triangle';
    const file = join(tmp(), 'prompt.txt');
    writeFileSync(file, `${text}\n`); // the final newline of a file is not part of the prompt
    const a = await herd(['generate', '--prompt', text, '--max-tokens', '6']);
    const b = await herd(['generate', '--prompt-file', file, '--max-tokens', '6']);
    const c = await herd(['generate', '--prompt', '-', '--max-tokens', '6'], { stdin: `${text}\n` });
    expect(a.code).toBe(0);
    expect(a.out.startsWith(text)).toBe(true);
    expect(a.out.length).toBeGreaterThan(text.length + 1);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    const empty = await herd(['generate', '--prompt', '', '--max-tokens', '3']);
    expect(empty.code).toBe(0);
    expect(empty.err).toBe('');
  });

  it('a prompt file longer than the context is a clean error, and --prompt with --prompt-file is refused', async () => {
    const file = join(tmp(), 'long.txt');
    writeFileSync(file, 'a big red circle. '.repeat(2000));
    const long = await herd(['generate', '--prompt-file', file]);
    expect(long.code).toBe(1);
    expectErrorLine(long.err, 'context_overflow');
    const both = await herd(['generate', '--prompt', 'x', '--prompt-file', file]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/give either --prompt or --prompt-file, not both/);
    const none = await herd(['generate']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/a prompt is needed/);
  });
});

describe('herd info', () => {
  it('shows devices with reasons, the ONNX Runtime version, and what a checkpoint holds', async () => {
    const r = await herd(['info', MINI_CORE_DIR], { env: { HERD_DEVICE: 'auto' } });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/onnxruntime-node \d+\.\d+\.\d+/);
    expect(r.out).toMatch(/^ {2}cpu +available +always available$/m);
    expect(r.out).toMatch(/^ {2}cuda +(available|unavailable) +\S/m);
    expect(r.out).toMatch(/this run: auto \(HERD_DEVICE\) → (cpu|webgpu|cuda): auto: /);
    expect(r.out).toMatch(/config: 4 layers, dim 256, 8 query \/ 2 KV heads/);
    // The committed core: 3,101,440 + (613 − 330) × 256 for the larger vocabulary of 2026-12-01.
    expect(r.out).toMatch(/parameters: 3,173,888 by the config, 3,173,888 stored in 1 file/);
    expect(r.out).toMatch(/dtypes: F16 × \d+ tensors/);
    expect(r.out).toMatch(/vocabulary: pruned view of 613 Llama 3 ids \(vocab\.json\); fits the Llama 3 tokenizer/);
    expect(r.out).toMatch(/model card: Mini language core — /);
  });

  it('an unavailable requested device is reported, not fatal', async () => {
    if (cudaMissing() === undefined) return;
    const r = await herd(['info', '--device', 'cuda']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/this run: cuda \(--device\) → device_unavailable: /);
  });
});
