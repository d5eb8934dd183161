/**
 * The export from Python: `run_export.py` (written into every export folder) run by a python3 with
 * onnxruntime (or the onnx package's reference evaluator, onnx ≥ 1.13) must answer text prompts
 * token-exact with herd and give the same last logits (within 1e-4), feeding the decoder only as
 * manifest.json says (the vision, speech and video inputs at their recipes' idle values).
 *
 * Skipped, saying so, where no python3 on PATH (nor /usr/bin/python3) has numpy and one of those:
 * Debian 12 packages neither onnxruntime nor an onnx with the reference evaluator (python3-onnx is
 * 1.12), and this machine reaches no PyPI — so on the machine it was written on it did NOT run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EOT_ID, END_OF_TEXT_ID, Generator, buildDecoder, buildExport, loadLanguageCore, loadLlama3Tokenizer, writeExport } from '@herd/llama3';
import { exportModalities } from './export.js';

/** A python3 that can run the export, and with which engine; undefined when none can. */
function findPython(): { python: string; engine: 'onnxruntime' | 'reference' } | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    for (const [engine, probe] of [['onnxruntime', 'import numpy, onnxruntime'], ['reference', 'import numpy; from onnx.reference import ReferenceEvaluator']] as const) {
      try {
        execFileSync(python, ['-c', probe], { stdio: 'ignore', timeout: 30_000 });
        return { python, engine };
      } catch {
        // not this one
      }
    }
  }
  return undefined;
}

const found = findPython();

describe.skipIf(found === undefined)('herd export from Python (skipped: no python3 with numpy + onnxruntime, or onnx ≥ 1.13; `pip install onnxruntime numpy` runs it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herd-export-py-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('run_export.py answers text prompts as herd does, logits within 1e-4', async () => {
    const { python, engine } = found!;
    const core = loadLanguageCore();
    const built = await buildExport(core, exportModalities(core, { modalities: ['vision', 'speech', 'video'] }));
    await writeExport(join(dir, 'mini'), built);
    const tok = await loadLlama3Tokenizer();
    const plain = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    const stops = Array.from(core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID]));
    try {
      for (const q of ['Where is the red ball?', 'How many squares are there?']) {
        const prompt = Array.from(core.vocab!.toCompact(tok.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true })));
        const out = execFileSync(python, [join(dir, 'mini', 'run_export.py'), '--ids', prompt.join(','), '--max-tokens', '12', '--engine', engine, '--logits'], { encoding: 'utf8', timeout: 300_000 });
        const r = JSON.parse(out) as { ids: number[]; text: string; lastLogits: number[] };
        const want = (await plain.complete(prompt, { maxNewTokens: 12, stopTokens: stops })).filter((t) => !stops.includes(t));
        expect(r.ids).toEqual(want);
        expect(r.text).toBe(tok.decode(Array.from(core.vocab!.toFull(want))));
        const ref = (await plain.logits(prompt)).at(-1)!;
        expect(Math.max(...ref.map((v, i) => Math.abs(v - r.lastLogits[i]!)))).toBeLessThan(1e-4);
      }
    } finally {
      await plain.release();
    }
  }, 600_000);
});
