/**
 * An adapter checkpoint folder, as the mini vision, speech and video checkpoints store one: the
 * trained groups as one f16 safetensors file, `config.json` (a format tag, the modality's settings
 * and the core it was trained against), `eval.json` and `MODEL_CARD.md`. The core's weights are
 * never copied into it.
 *
 * Why the core is recorded twice: its shape (width, layers, vocabulary) decides whether the adapter
 * can run on a core at all, so a different shape is refused; the sha256 of its weights decides
 * whether it is the core the adapter learnt against. A continued core keeps the shape and the
 * vocabulary on purpose (adapters still run on it), so a different hash is reported, not refused —
 * the adapter should be re-trained (or at least re-measured) on it.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, ProblemList, SafetensorsFile, castFloat, hostTensor, readJsonFile, writeFileAtomic, writeSafetensors } from '@herd/core';
import { type LanguageCore } from './mini.js';

/** The four files of an adapter checkpoint; only the weights file's name differs between modalities. */
export interface AdapterCheckpointFiles {
  readonly weights: string;
  readonly config: 'config.json';
  readonly eval: 'eval.json';
  readonly card: 'MODEL_CARD.md';
}

export function adapterCheckpointFiles<W extends string>(weights: W): AdapterCheckpointFiles & { readonly weights: W } {
  return { weights, config: 'config.json', eval: 'eval.json', card: 'MODEL_CARD.md' };
}

/** The core an adapter was trained against, as its config.json records it. */
export interface TrainedAgainstCore {
  readonly dim: number;
  readonly nLayers: number;
  readonly vocabSize: number;
  /** sha256 over the core's `*.safetensors` files (name order); absent in checkpoints saved before it was recorded. */
  readonly weightsSha256?: string;
}

const shaCache = new Map<string, string>();

/** sha256 over the files' bytes in the order given (streamed; remembered per file size and time). */
export function filesSha256(paths: readonly string[]): string {
  const key = paths.map((p) => {
    const st = statSync(p);
    return `${p}:${st.size}:${st.mtimeMs}`;
  }).join('|');
  const known = shaCache.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      for (let got = readSync(fd, buf); got > 0; got = readSync(fd, buf)) hash.update(buf.subarray(0, got));
    } finally {
      closeSync(fd);
    }
  }
  const sha = hash.digest('hex');
  shaCache.set(key, sha);
  return sha;
}

/** sha256 of a folder's `*.safetensors` files in name order. */
export function weightsSha256(dir: string): string {
  const names = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
  if (!names.length) throw new HerdError('io_error', `no .safetensors file in ${dir}`);
  return filesSha256(names.map((n) => join(dir, n)));
}

/** What a checkpoint records about `core`. */
export function trainedAgainst(core: LanguageCore): TrainedAgainstCore {
  return { dim: core.config.dim, nLayers: core.config.nLayers, vocabSize: core.config.vocabSize, weightsSha256: weightsSha256(core.dir) };
}

// f32 values as trainers hand them over (HostTensor or a plain shape + Float32Array).
type FloatTensor = { readonly shape: readonly number[]; readonly data: unknown };

/**
 * Writes the named tensors as f16 safetensors plus config.json (and eval.json / the card when
 * given), each file atomically. `what` names the caller in the error for a missing value.
 */
export async function writeAdapterCheckpoint(
  dir: string,
  files: AdapterCheckpointFiles,
  names: readonly string[],
  weights: Readonly<Record<string, FloatTensor | undefined>>,
  config: object,
  extra: { eval?: unknown; card?: string } = {},
  what = 'writeAdapterCheckpoint',
): Promise<void> {
  const tensors = Object.fromEntries(names.map((n) => {
    const t = weights[n];
    if (!t) throw new HerdError('invalid_argument', `${what}: no value for ${n}`);
    return [n, castFloat(hostTensor('f32', [...t.shape], t.data as Float32Array), 'f16')];
  }));
  await writeSafetensors(join(dir, files.weights), tensors, { format: 'pt' });
  await writeFileAtomic(join(dir, files.config), JSON.stringify(config, null, 2) + '\n');
  if (extra.eval !== undefined) await writeFileAtomic(join(dir, files.eval), JSON.stringify(extra.eval, null, 2) + '\n');
  if (extra.card !== undefined) await writeFileAtomic(join(dir, files.card), extra.card);
}

/** An adapter checkpoint's config.json, read and checked against its format tag and (when given) a core. */
export interface OpenedAdapterCheckpoint<C> {
  readonly configPath: string;
  readonly stored: C;
  readonly weights: SafetensorsFile;
  /** Collects every problem of this checkpoint; the caller adds tensor problems and throws once. */
  readonly problems: ProblemList;
  /** Whether the core given is the one it was trained against; undefined when the checkpoint does not say. */
  readonly coreMatches: boolean | undefined;
}

/**
 * Opens the checkpoint in `dir`: a missing folder is an io_error saying how to make one (`trainHint`);
 * a wrong format tag or a core of another shape are problems in the returned list.
 */
export function openAdapterCheckpoint<C extends { readonly format: string; readonly core?: TrainedAgainstCore }>(
  dir: string,
  files: AdapterCheckpointFiles,
  format: C['format'],
  what: string,
  trainHint: string,
  core?: LanguageCore,
): OpenedAdapterCheckpoint<C> {
  const configPath = join(dir, files.config);
  if (!existsSync(configPath)) throw new HerdError('io_error', `no ${what} checkpoint at ${dir}: expected ${files.config} + ${files.weights} (${trainHint})`);
  const stored = readJsonFile(configPath, { what: `${what} config` }) as C;
  const problems = new ProblemList();
  if (stored.format !== format) problems.add(`${configPath}: format is ${JSON.stringify(stored.format)}, expected ${JSON.stringify(format)}`);
  let coreMatches: boolean | undefined;
  if (core) {
    const t = core.config;
    const c = stored.core;
    if (c?.dim !== t.dim || c?.nLayers !== t.nLayers || c?.vocabSize !== t.vocabSize) {
      problems.add(`${configPath}: trained against a core with dim ${c?.dim}, ${c?.nLayers} layers, vocabulary ${c?.vocabSize}; the core at ${core.dir} has dim ${t.dim}, ${t.nLayers} layers, vocabulary ${t.vocabSize}`);
    }
    coreMatches = c?.weightsSha256 === undefined ? undefined : c.weightsSha256 === weightsSha256(core.dir);
  }
  problems.throwIfAny('checkpoint_mismatch', `${what} checkpoint ${dir}`);
  return { configPath, stored, weights: SafetensorsFile.open(join(dir, files.weights)), problems, coreMatches };
}

/** Reads each spec's tensor as f32 into `into`, adding a problem for a missing or mis-shaped one. */
export function readCheckpointTensors(
  file: SafetensorsFile,
  specs: Iterable<{ readonly name: string; readonly shape: readonly number[] }>,
  problems: ProblemList,
  into: Record<string, { shape: readonly number[]; data: Float32Array }>,
): void {
  for (const spec of specs) {
    if (!file.has(spec.name)) {
      problems.add(`missing tensor ${spec.name}`);
      continue;
    }
    const shape = file.info(spec.name).shape;
    if (shape.join(',') !== spec.shape.join(',')) problems.add(`tensor ${spec.name}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    else into[spec.name] = { shape, data: file.readFloat32(spec.name) };
  }
}
