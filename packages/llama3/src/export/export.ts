/**
 * `herd export`: a composed model (the frozen core + each modality's encoder and adapter) written as
 * ONNX files + `manifest.json` + `tokenizer.json`, loadable by any ONNX Runtime (Node, web, Python)
 * with no herd code. The core owns the decoder and the generation recipe; each modality brings a part
 * (`ExportModality`): a decoder extension (its adapter, with dims such as the image-token count left
 * symbolic so one decoder serves any input), its own graphs (e.g. the image encoder), and how to
 * feed them. Extensions are composed into one decoder, so speech and video slot in beside vision.
 *
 * Weights are ONNX initializers inside each file (self-contained files, what onnxruntime-web loads
 * from one URL). Graphs use the standard ai.onnx domain only (opset `OPSET`).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { HerdError, ProblemList, outputPathProblem, readJsonFile, writeFileAtomic } from '@herd/core';
import * as G from '@herd/graph';
import { type EmittedModel, type IoSpec, OPSET, type Tensor } from '@herd/graph';
import { type LlamaConfig } from '../config.js';
import { type LanguageCore } from '../mini.js';
import { buildDecoder } from '../model/graphs.js';
import { type LmExtension, type LmInputDecl, type ParamValuesByName, composeExtensions } from '../model/lm-spec.js';
import { headDim } from '../model/weights.js';
import { BEGIN_OF_TEXT_ID, END_HEADER_ID, END_OF_TEXT_ID, EOT_ID, START_HEADER_ID } from '../tokenizer/special.js';
import { type TokenizerJson, llama3TokenizerJson } from './tokenizer-json.js';

export const EXPORT_FORMAT = 'herd.onnx-export';
export const EXPORT_FILES = { manifest: 'manifest.json', tokenizer: 'tokenizer.json', decoder: 'decoder.onnx', readme: 'README.md', python: 'run_export.py' } as const;

/** The Python runner every export carries (the same file from src/ and dist/). */
const PYTHON_RUNNER = new URL('../../export-assets/run_export.py', import.meta.url);

/** One ONNX file of an export with its interface. */
export interface ExportGraph {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly inputs: readonly IoSpec[];
  readonly outputs: readonly IoSpec[];
}

/** What a modality adds to an export. */
export interface ExportModality {
  /** 'vision', 'speech', 'video': the key in the manifest's `modalities`. */
  readonly name: string;
  /** Its part of the decoder (adapter layers / embedding splice), or none. */
  readonly extension?: LmExtension;
  /** The extension's parameter values. */
  readonly weights?: ParamValuesByName;
  /** Its own graphs by role (e.g. `encoder`), written as `<name>.<role>.onnx`. */
  readonly graphs: Readonly<Record<string, EmittedModel>>;
  /** How to run it (preprocessing, placeholder ids, which decoder inputs its graphs feed); JSON. */
  readonly recipe: Readonly<Record<string, unknown>>;
}

export interface ExportManifest {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: 1;
  readonly producer: string;
  readonly onnx: { readonly opset: number; readonly domains: readonly string[] };
  readonly core: { readonly source: string; readonly config: LlamaConfig };
  readonly tokenizer: {
    readonly file: string;
    readonly chatFormat: 'llama3';
    /** Model ids (after the pruned vocabulary, when there is one). */
    readonly ids: { readonly beginOfText: number; readonly startHeader: number; readonly endHeader: number; readonly endOfTurn: number; readonly endOfText: number };
    /** Generation stops at any of these model ids. */
    readonly stopIds: readonly number[];
  };
  readonly decoder: ExportGraph & {
    /** The recipe of one generation step, for runtimes written without herd. */
    readonly step: DecoderStep;
  };
  readonly modalities: Readonly<Record<string, { readonly graphs: Readonly<Record<string, ExportGraph>>; readonly recipe: Readonly<Record<string, unknown>> }>>;
}

/** How to call the decoder; names are graph input/output names. */
export interface DecoderStep {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  readonly contextTokens: number;
  readonly cache: { readonly pastKey: string; readonly pastValue: string; readonly presentKey: string; readonly presentValue: string };
  readonly text: readonly string[];
}

function decoderStep(cfg: LlamaConfig): DecoderStep {
  return {
    layers: cfg.nLayers,
    kvHeads: cfg.nKvHeads,
    headDim: headDim(cfg),
    vocab: cfg.vocabSize,
    contextTokens: cfg.maxSeqLen,
    cache: { pastKey: 'past.k.{layer}', pastValue: 'past.v.{layer}', presentKey: 'present.k.{layer}', presentValue: 'present.v.{layer}' },
    text: [
      'Batch B = 1. P = tokens already in the cache (0 at the first call), T = tokens fed now: the whole prompt at the first call, then the one token just chosen.',
      'tokens [1, T] int32: model ids; positions [1, T] int32: P .. P+T-1.',
      'past.k.{layer} / past.v.{layer} [1, kvHeads, P, headDim] float32: empty (P = 0) at the first call, then the previous call\'s present.k/v.{layer}.',
      'mask [1, 1, T, P+T] bool: row i may attend key j iff j <= P + i (causal).',
      'lastIndex [1] int32 = T - 1: logits [1, vocab] are those of the last fed token.',
      'Greedy decoding: the next id is the argmax of logits (first index on ties); stop after any of tokenizer.stopIds or when P + T reaches contextTokens.',
      'Inputs a modality adds (see modalities.*.recipe.decoderInputs) must be fed at every call.',
    ],
  };
}

/** An export in memory: the manifest and every file's bytes by name. */
export interface BuiltExport {
  readonly manifest: ExportManifest;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

function graphEntry(file: string, m: EmittedModel, label: string): ExportGraph {
  if (m.externalFiles.length > 0) {
    throw new HerdError('invalid_argument', `export: ${label} keeps weights in ${m.externalFiles.join(', ')} (external data); load the weights into memory so the file is self-contained`);
  }
  return { file, bytes: m.bytes.length, sha256: createHash('sha256').update(m.bytes).digest('hex'), inputs: m.inputs, outputs: m.outputs };
}

/** Checks every graph uses only the standard ONNX domain (what every ONNX Runtime build, onnxruntime-web's WASM included, implements). */
function checkDomains(files: ReadonlyMap<string, Uint8Array>): void {
  const problems = new ProblemList();
  for (const [name, bytes] of files) {
    if (!name.endsWith('.onnx')) continue;
    const s = G.summariseOnnx(bytes);
    for (const op of s.operators) if (op.domain !== '') problems.add(`${name}: operator ${op.domain}.${op.opType} is outside the standard ONNX domain`);
    if (s.externalInitializers > 0) problems.add(`${name}: ${s.externalInitializers} initializer(s) point to external data`);
  }
  problems.throwIfAny('unsupported_op', 'export: a graph would not load in every ONNX Runtime');
}

/**
 * Builds the export of a core and its modalities in memory. The decoder is the core's incremental
 * decoder with every modality's extension attached (the core alone when there are none).
 */
export async function buildExport(core: LanguageCore, modalities: readonly ExportModality[] = [], producer = 'herd export'): Promise<BuiltExport> {
  const names = new Set<string>();
  for (const m of modalities) {
    if (names.has(m.name)) throw new HerdError('invalid_argument', `export: modality '${m.name}' given twice`);
    if (!/^[a-z][a-z0-9-]*$/.test(m.name)) throw new HerdError('invalid_argument', `export: modality name '${m.name}' must be lower-case letters, digits and '-'`);
    names.add(m.name);
  }
  const parts = modalities.flatMap((m) => (m.extension ? [m.extension] : []));
  const extension = parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : composeExtensions(...parts);
  const weights: ParamValuesByName = Object.assign({}, core.weights, ...modalities.map((m) => m.weights ?? {}));
  const decoder = buildDecoder(extension ? { config: core.config, extension } : core.config, weights);
  const files = new Map<string, Uint8Array>();
  files.set(EXPORT_FILES.decoder, decoder.bytes);
  const tokenizer: TokenizerJson = await llama3TokenizerJson(core.vocab);
  files.set(EXPORT_FILES.tokenizer, new TextEncoder().encode(JSON.stringify(tokenizer)));
  const modalityEntries: Record<string, ExportManifest['modalities'][string]> = {};
  for (const m of modalities) {
    const graphs: Record<string, ExportGraph> = {};
    for (const [role, g] of Object.entries(m.graphs)) {
      const file = `${m.name}.${role}.onnx`;
      files.set(file, g.bytes);
      graphs[role] = graphEntry(file, g, `${m.name} ${role}`);
    }
    modalityEntries[m.name] = { graphs, recipe: m.recipe };
  }
  checkDomains(files);
  files.set(EXPORT_FILES.python, new Uint8Array(readFileSync(PYTHON_RUNNER)));
  const toModel = (full: number): number => (core.vocab ? core.vocab.toCompact([full])[0]! : full);
  const manifest: ExportManifest = {
    format: EXPORT_FORMAT,
    version: 1,
    producer,
    onnx: { opset: OPSET, domains: ['ai.onnx'] },
    core: { source: basename(core.dir), config: core.config },
    tokenizer: {
      file: EXPORT_FILES.tokenizer,
      chatFormat: 'llama3',
      ids: { beginOfText: toModel(BEGIN_OF_TEXT_ID), startHeader: toModel(START_HEADER_ID), endHeader: toModel(END_HEADER_ID), endOfTurn: toModel(EOT_ID), endOfText: toModel(END_OF_TEXT_ID) },
      stopIds: [toModel(EOT_ID), toModel(END_OF_TEXT_ID)],
    },
    decoder: { ...graphEntry(EXPORT_FILES.decoder, decoder, 'decoder'), step: decoderStep(core.config) },
    modalities: modalityEntries,
  };
  files.set(EXPORT_FILES.readme, new TextEncoder().encode(exportReadme(manifest, files)));
  return { manifest, files };
}

/** The export folder's README: what each file is and how to run it without herd. */
function exportReadme(m: ExportManifest, files: ReadonlyMap<string, Uint8Array>): string {
  const graphs = [m.decoder, ...Object.values(m.modalities).flatMap((x) => Object.values(x.graphs))];
  const size = (f: string): string => `${((files.get(f)?.length ?? 0) / 1e6).toFixed(1)} MB`;
  return [
    `# herd export (${m.producer})`,
    '',
    `ONNX graphs (standard ai.onnx domain, opset ${m.onnx.opset}, weights inside each file) of a frozen Llama 3 core (${m.core.config.nLayers} layers, d=${m.core.config.dim}) with ${Object.keys(m.modalities).length === 0 ? 'no modality (text only)' : `its ${Object.keys(m.modalities).join(', ')} encoders and adapters`}. \`manifest.json\` is the contract: every graph's inputs and outputs (names, dtypes, shapes with symbolic dims) and sha256, \`decoder.step\` (how to run one generation step) and per modality a \`recipe\` (preprocessing, which decoder inputs its graphs feed, and \`idle\`: what to feed those inputs when the modality is not used, with B = 1, T the rows fed and any other symbolic dim 1).`,
    '',
    '| file | size | inputs → outputs |',
    '|---|---|---|',
    ...graphs.map((g) => `| \`${g.file}\` | ${size(g.file)} | ${g.inputs.filter((i) => !i.name.startsWith('past.')).map((i) => i.name).join(', ')} → ${g.outputs.filter((o) => !o.name.startsWith('present.')).map((o) => o.name).join(', ')} |`),
    `| \`${m.tokenizer.file}\` | ${size(m.tokenizer.file)} | Llama 3 BPE (byte-level, by rank), pattern, specials, pruned vocabulary |`,
    '',
    '## Python',
    '',
    '`run_export.py` generates greedily from a prompt of token ids with nothing but these files, numpy and either onnxruntime (`pip install onnxruntime numpy`) or the `onnx` package\'s reference evaluator (`--engine reference`, onnx ≥ 1.13):',
    '',
    '```',
    'python3 run_export.py --ids 1,2,3 --max-tokens 32        # model ids (after the pruned vocabulary)',
    'python3 run_export.py --full-ids 128000,128006,882,128007,271,... --engine onnxruntime',
    '```',
    '',
    'It prints `{"engine", "ids", "text"}` (with `--logits`, the last prompt token\'s logits). Images, audio and clips need their recipes\' preprocessing (see the manifest); the script feeds every modality its idle values, i.e. answers text prompts.',
    '',
  ].join('\n');
}

/**
 * Checks that an export can be written to `dir` (`dir` itself absent unless `overwrite`; its parent, where
 * the sibling temp folder goes, writable or creatable: core's `outputPathProblem`), so a caller can fail
 * before spending minutes building the graphs. Creates nothing.
 */
export function checkExportTarget(dir: string, o: { overwrite?: boolean } = {}): void {
  if (existsSync(dir) && !o.overwrite) throw new HerdError('invalid_argument', `export: ${dir} already exists; choose another --out or pass --overwrite`);
  const problem = outputPathProblem(dirname(resolve(dir)), 'folder');
  if (problem !== undefined) throw new HerdError('io_error', `export: cannot write ${dir}: ${problem}`);
}

/**
 * Writes an export folder: every file into a fresh sibling folder first, then one rename, so a
 * reader never sees half an export. An existing folder is replaced only with `overwrite`.
 */
export async function writeExport(dir: string, built: BuiltExport, o: { overwrite?: boolean } = {}): Promise<void> {
  checkExportTarget(dir, o);
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    for (const [name, bytes] of built.files) await writeFileAtomic(join(tmp, name), bytes);
    await writeFileAtomic(join(tmp, EXPORT_FILES.manifest), JSON.stringify(built.manifest, null, 2) + '\n');
    if (existsSync(dir)) {
      const old = `${tmp}.old`;
      renameSync(dir, old);
      renameSync(tmp, dir);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads an export's manifest and one of its graphs back as an `EmittedModel` (checking its hash), for Node sessions. */
export function readExportManifest(dir: string): ExportManifest {
  const m = readJsonFile(join(dir, EXPORT_FILES.manifest), { what: 'export manifest' }) as ExportManifest;
  if (m.format !== EXPORT_FORMAT || m.version !== 1) {
    throw new HerdError('corrupt_data', `${join(dir, EXPORT_FILES.manifest)}: format ${JSON.stringify(m.format)} version ${JSON.stringify(m.version)}, expected ${EXPORT_FORMAT} version 1`);
  }
  return m;
}

export function readExportGraph(dir: string, entry: ExportGraph): EmittedModel {
  const path = join(dir, entry.file);
  const bytes = new Uint8Array(readFileSync(path));
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== entry.sha256) throw new HerdError('corrupt_data', `${path}: sha256 ${sha} differs from the manifest's ${entry.sha256}; re-export`);
  return { bytes, inputs: entry.inputs, outputs: entry.outputs, externalFiles: [] };
}
