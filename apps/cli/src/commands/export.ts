/**
 * `herd export`: the composed mini herd (or a given core + checkpoints) as ONNX files + a manifest
 * any ONNX Runtime loads (Node, web, Python) — the files the chat page runs in the browser. The
 * composition is here, at the top: llama3 builds the decoder and the manifest, each modality package
 * gives its part (`visionExportModality`, `speechExportModality`, `videoExportModality`). The video
 * part carries the image model it was trained on (its own image cross-attention layers, `video.image.`)
 * beside the vision part's, which answer images; it goes first (at a core layer both act at, its
 * layers act before the vision layer, which matters only on rows that see a picture and a clip).
 */
import { resolve } from 'node:path';
import { UsageError, flag } from '@herd/core';
import { type ExportModality, type LanguageCore, MINI_CORE_DIR, buildExport, checkExportTarget, writeExport } from '@herd/llama3';
import { summariseOnnx } from '@herd/graph';
import { CORE_EMBEDDING_PARAM, MINI_SPEECH_DIR, loadMiniSpeech, speechExportModality } from '@herd/speech';
import { MINI_VIDEO_DIR, imageCheckpointSha, loadMiniVideo, videoExportModality, videoImageDir } from '@herd/video';
import { MINI_VISION_DIR, loadMiniVision, visionExportModality } from '@herd/vision';
import { type Io, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { MODEL_FLAG } from './generate.js';

const EXPORT_NOTES = 'The folder holds decoder.onnx (core + every adapter, KV cache), vision.encoder.onnx (one image → the vision checkpoint\'s adapter keys/values), speech.encoder.onnx (log-mel → adapter frames), video.frames.onnx + video.aggregator.onnx (a clip\'s frames → video tokens, and its middle frame → the keys/values of the video model\'s own image layers), tokenizer.json and manifest.json (inputs, outputs, shapes, dtypes, how to run one generation step and how to feed each modality; modalities.video.recipe.image: the video\'s image layers). Images are answered by --vision\'s layers, clips by the video model with the image checkpoint it was trained on.';

const MODALITIES = ['vision', 'speech', 'video'] as const;
type ModalityName = (typeof MODALITIES)[number];

export const exportCommand = defineCommand({
  words: ['export'],
  summary: 'write the composed model (core + vision, speech and video encoders + adapters) as ONNX files + manifest.json for any ONNX Runtime',
  usesDevice: false,
  flags: {
    out: flag.string({ placeholder: 'DIR', description: 'the folder to create (required)' }),
    ...MODEL_FLAG,
    only: flag.string({ placeholder: 'LIST', description: `the modalities to export, comma-separated among ${MODALITIES.join(', ')} (default: all three)` }),
    vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint (default: the built-in mini one)' }),
    speech: flag.string({ placeholder: 'DIR', description: 'the speech checkpoint (default: the built-in mini one)' }),
    video: flag.string({ placeholder: 'DIR', description: 'the video checkpoint (default: the built-in mini one; it brings the image checkpoint it was trained on)' }),
    'text-only': flag.boolean({ description: 'export the language core alone' }),
    overwrite: flag.boolean({ description: 'replace an existing --out folder' }),
  },
  notes: EXPORT_NOTES,
  async run({ values, io }) {
    if (values['text-only'] && values.only !== undefined) throw new UsageError('--text-only and --only exclude each other');
    const only = values['text-only'] ? [] : (values.only?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [...MODALITIES]);
    const unknown = only.filter((m) => !(MODALITIES as readonly string[]).includes(m));
    if (unknown.length > 0) throw new UsageError(`--only: unknown modality ${unknown.map((u) => `'${u}'`).join(', ')} (known: ${MODALITIES.join(', ')})`);
    await exportTo(io, values.out, values.model, { modalities: only as ModalityName[], vision: values.vision ?? MINI_VISION_DIR, speech: values.speech ?? MINI_SPEECH_DIR, video: values.video ?? MINI_VIDEO_DIR }, values.overwrite);
  },
});

/** `herd <vision|speech|video> export`: the core with that modality (video with the image model it was trained on). */
function modalityExportCommand(name: ModalityName) {
  const modalities: ModalityName[] = [name];
  return defineCommand({
    words: [name, 'export'],
    summary: `write the core + ${modalities.join(' + ')} as ONNX files + manifest.json (herd export --only ${modalities.join(',')})`,
    usesDevice: false,
    flags: {
      out: flag.string({ placeholder: 'DIR', description: 'the folder to create (required)' }),
      ...MODEL_FLAG,
      ...(name === 'vision' ? { vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint (default: the built-in mini one)' }) } : {}),
      ...(name === 'speech' ? { speech: flag.string({ placeholder: 'DIR', description: 'the speech checkpoint (default: the built-in mini one)' }) } : {}),
      ...(name === 'video' ? { video: flag.string({ placeholder: 'DIR', description: 'the video checkpoint (default: the built-in mini one; it brings the image checkpoint it was trained on)' }) } : {}),
      overwrite: flag.boolean({ description: 'replace an existing --out folder' }),
    },
    notes: EXPORT_NOTES,
    async run({ values, io }) {
      const v = values as Record<string, string | boolean | undefined>;
      const dir = (k: string, def: string): string => (typeof v[k] === 'string' ? (v[k] as string) : def);
      await exportTo(io, values.out, values.model, { modalities, vision: dir('vision', MINI_VISION_DIR), speech: dir('speech', MINI_SPEECH_DIR), video: dir('video', MINI_VIDEO_DIR) }, values.overwrite);
    },
  });
}
export const visionExportCommand = modalityExportCommand('vision');
export const speechExportCommand = modalityExportCommand('speech');
export const videoExportCommand = modalityExportCommand('video');

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
    await exportTo(io, values.out, values.model, { modalities: [] }, values.overwrite);
  },
});

interface ExportChoice {
  readonly modalities: readonly ModalityName[];
  readonly vision?: string;
  readonly speech?: string;
  readonly video?: string;
}

/**
 * Each chosen modality's part, video first. The video part carries the image checkpoint it was trained
 * on (its config's image.dir; --vision only for a checkpoint that records none), the vision part
 * --vision's: two sets of image layers, images answered by the one, clips by the other.
 */
export function exportModalities(core: LanguageCore, c: ExportChoice): ExportModality[] {
  const out: ExportModality[] = [];
  const visionDir = c.vision ?? MINI_VISION_DIR;
  const vision = c.modalities.includes('vision') ? loadMiniVision(visionDir, core) : undefined;
  if (c.modalities.includes('video')) {
    const videoDir = c.video ?? MINI_VIDEO_DIR;
    const v = loadMiniVideo(videoDir, videoImageDir(videoDir, visionDir), core);
    // One <|image|> id in a prompt: both sets' learnable rows are indexed by it.
    if (vision && v.config.image.imageTokenId !== vision.config.imageTokenId) throw new UsageError(`the video checkpoint ${videoDir}'s image model has <|image|> id ${v.config.image.imageTokenId}, the vision checkpoint ${visionDir}'s ${vision.config.imageTokenId}: one export takes one; export them apart (--only)`);
    out.push(videoExportModality(v.config, v.config.video.finetune, v.vision.weights, v.weights, { weightsSha256: imageCheckpointSha(v.vision.dir) }));
  }
  if (vision) out.push(visionExportModality(vision.config, vision.weights, { weightsSha256: imageCheckpointSha(visionDir) }));
  if (c.modalities.includes('speech')) {
    const s = loadMiniSpeech(c.speech ?? MINI_SPEECH_DIR, core);
    out.push(speechExportModality(s.model, s.weights, s.maxFrames, s.core.weights[CORE_EMBEDDING_PARAM]));
  }
  return out;
}

async function exportTo(io: Io, outFlag: string | undefined, model: string | undefined, choice: ExportChoice, overwrite: boolean): Promise<void> {
  if (outFlag === undefined) throw new UsageError('--out DIR is required: the folder the export is written to');
  const out = resolve(outFlag);
  checkExportTarget(out, { overwrite }); // before minutes of graph building
  const { core } = await openLanguageCore(model ?? MINI_CORE_DIR, io.stderr);
  const built = await buildExport(core, exportModalities(core, choice));
  await writeExport(out, built, { overwrite });
  io.stdout.write(`exported to ${out}\n`);
  for (const [name, bytes] of built.files) {
    const ops = name.endsWith('.onnx') ? summariseOnnx(bytes) : undefined;
    io.stdout.write(`  ${name.padEnd(24)} ${(bytes.length / 1e6).toFixed(1).padStart(6)} MB${ops ? `  ${ops.nodes} nodes, ${ops.operators.length} operator types (ai.onnx opset ${ops.opsetImports[0]?.version})` : ''}\n`);
  }
}
