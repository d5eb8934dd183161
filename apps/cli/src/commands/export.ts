/**
 * `herd export`: the composed mini herd (or a given core + vision checkpoint) as ONNX files + a
 * manifest any ONNX Runtime loads (Node, web, Python) — the files the chat page runs in the browser.
 * The composition is here, at the top: llama3 builds the decoder and the manifest, each modality
 * package gives its part (`visionExportModality`); speech and video add theirs the same way.
 */
import { resolve } from 'node:path';
import { UsageError, flag } from '@herd/core';
import { type ExportModality, MINI_CORE_DIR, buildExport, writeExport } from '@herd/llama3';
import { summariseOnnx } from '@herd/graph';
import { MINI_VISION_DIR, loadMiniVision, visionExportModality } from '@herd/vision';
import { type Io, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { MODEL_FLAG } from './generate.js';

const EXPORT_NOTES = 'The folder holds decoder.onnx (core + adapters, KV cache), vision.encoder.onnx (one image → adapter keys/values), tokenizer.json and manifest.json (inputs, outputs, shapes, dtypes and how to run one generation step).';

export const exportCommand = defineCommand({
  words: ['export'],
  aliases: [['vision', 'export']],
  summary: 'write the composed model (core + vision encoder + adapter) as ONNX files + manifest.json for any ONNX Runtime',
  usesDevice: false,
  flags: {
    out: flag.string({ placeholder: 'DIR', description: 'the folder to create (required)' }),
    ...MODEL_FLAG,
    vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint (default: the built-in mini one)' }),
    'text-only': flag.boolean({ description: 'export the language core alone' }),
    overwrite: flag.boolean({ description: 'replace an existing --out folder' }),
  },
  notes: EXPORT_NOTES,
  async run({ values, io }) {
    await exportTo(io, values.out, values.model, values['text-only'] ? undefined : (values.vision ?? MINI_VISION_DIR), values.overwrite);
  },
});

/** `herd text export`: the language core alone (the same files without the vision part). */
export const textExportCommand = defineCommand({
  words: ['text', 'export'],
  summary: 'write the language core alone as ONNX files + manifest.json (herd export --text-only)',
  usesDevice: false,
  flags: {
    out: flag.string({ placeholder: 'DIR', description: 'the folder to create (required)' }),
    ...MODEL_FLAG,
    overwrite: flag.boolean({ description: 'replace an existing --out folder' }),
  },
  notes: EXPORT_NOTES,
  async run({ values, io }) {
    await exportTo(io, values.out, values.model, undefined, values.overwrite);
  },
});

async function exportTo(io: Io, outFlag: string | undefined, model: string | undefined, visionDir: string | undefined, overwrite: boolean): Promise<void> {
  if (outFlag === undefined) throw new UsageError('--out DIR is required: the folder the export is written to');
  const out = resolve(outFlag);
  const { core } = await openLanguageCore(model ?? MINI_CORE_DIR, io.stderr);
  const modalities: ExportModality[] = [];
  if (visionDir !== undefined) {
    const vision = loadMiniVision(visionDir, core);
    modalities.push(visionExportModality(vision.config, vision.weights));
  }
  const built = await buildExport(core, modalities);
  await writeExport(out, built, { overwrite });
  io.stdout.write(`exported to ${out}\n`);
  for (const [name, bytes] of built.files) {
    const ops = name.endsWith('.onnx') ? summariseOnnx(bytes) : undefined;
    io.stdout.write(`  ${name.padEnd(22)} ${(bytes.length / 1e6).toFixed(1).padStart(6)} MB${ops ? `  ${ops.nodes} nodes, ${ops.operators.length} operator types (ai.onnx opset ${ops.opsetImports[0]?.version})` : ''}\n`);
  }
}
