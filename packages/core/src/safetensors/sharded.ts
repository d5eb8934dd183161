/**
 * Checkpoints split over shards and described by a `*.safetensors.index.json` (`weight_map`: tensor
 * name → shard file beside the index), and `openSafetensors`, which takes a file, an index or a folder.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { readJsonFile } from '../config/json-file.js';
import { showValue } from '../config/fields.js';
import { HerdError, ProblemList } from '../errors.js';
import { writeFileAtomic } from '../fs.js';
import { numelOf } from '../tensor/host-tensor.js';
import { SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME } from './format.js';
import { SafetensorsFile, SafetensorsReads, type SafetensorsReadOptions, type SafetensorsSource, type TensorInfo, missingTensor } from './read.js';
import { type SafetensorsTensors, encodeSafetensors } from './write.js';
import { DTYPE_FACTS } from '../tensor/dtype.js';

/** A checkpoint split over shards, described by a `*.safetensors.index.json` (`weight_map`). */
export class ShardedSafetensors extends SafetensorsReads {
  protected readonly checkFinite: boolean;

  private constructor(
    readonly indexPath: string,
    readonly metadata: Readonly<Record<string, string>>,
    readonly shards: ReadonlyMap<string, SafetensorsFile>,
    private readonly weightMap: ReadonlyMap<string, SafetensorsFile>,
    options: SafetensorsReadOptions,
  ) {
    super();
    this.checkFinite = options.checkFinite ?? true;
  }

  /**
   * Opens the index and every shard's header, and checks that they agree: every listed shard exists
   * and holds the tensors mapped to it, no tensor is in two shards, no shard holds tensors the index
   * leaves out. All problems are reported at once.
   */
  static open(indexPath: string, options: SafetensorsReadOptions = {}): ShardedSafetensors {
    const abs = resolve(indexPath);
    const raw = readJsonFile(abs, { what: 'safetensors index', code: 'corrupt_data', maxBytes: 64 * 1024 * 1024, maxDepth: 8 });
    const wm = (raw as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
      throw new HerdError('corrupt_data', `${abs}: index has no "weight_map" object mapping tensor names to shard files`);
    }
    const indexMeta = (raw as { metadata?: unknown }).metadata;
    const metadata: Record<string, string> = {};
    if (typeof indexMeta === 'object' && indexMeta !== null) {
      // total_size is a number in Hugging Face indexes; keep everything as text.
      for (const [k, v] of Object.entries(indexMeta)) metadata[k] = typeof v === 'string' ? v : showValue(v, 1000);
    }
    const dir = dirname(abs);
    const problems = new ProblemList();
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
        problems.add(`tensor '${name}': shard must be a file name beside the index, got ${showValue(shard)}`);
        continue;
      }
      const list = byShard.get(shard) ?? [];
      list.push(name);
      byShard.set(shard, list);
    }
    problems.throwIfAny('corrupt_data', `${abs}: bad weight_map`);
    const shards = new Map<string, SafetensorsFile>();
    for (const [shard, names] of byShard) {
      const path = join(dir, shard);
      if (!existsSync(path)) {
        problems.add(`shard ${shard} (holding ${names.length} tensors, e.g. '${names[0] ?? ''}') does not exist in ${dir}`);
        continue;
      }
      shards.set(shard, SafetensorsFile.open(path, options));
    }
    problems.throwIfAny('checkpoint_mismatch', `${abs}: missing shards`);
    const weightMap = new Map<string, SafetensorsFile>();
    const holders = new Map<string, string[]>();
    for (const [shard, file] of shards) {
      for (const name of file.names()) holders.set(name, [...(holders.get(name) ?? []), shard]);
    }
    for (const [shard, names] of byShard) {
      const file = shards.get(shard) as SafetensorsFile;
      for (const name of names) {
        if (file.has(name)) weightMap.set(name, file);
        else problems.add(`tensor '${name}' is mapped to ${shard}, which does not contain it`);
      }
    }
    for (const [name, where] of holders) {
      if (where.length > 1) problems.add(`tensor '${name}' is in ${where.length} shards (${where.join(', ')}); which copy is meant is ambiguous`);
      else if (!weightMap.has(name)) problems.add(`shard ${where[0]} holds tensor '${name}', which the index does not list`);
    }
    problems.throwIfAny('checkpoint_mismatch', `${abs}: index and shards disagree`);
    return new ShardedSafetensors(abs, Object.freeze(metadata), shards, weightMap, options);
  }

  names(): string[] {
    const out: string[] = [];
    for (const file of this.shards.values()) {
      for (const name of file.names()) if (this.weightMap.get(name) === file) out.push(name);
    }
    return out;
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.weightMap.get(name);
    if (file === undefined) throw missingTensor(this.indexPath, name, [...this.weightMap.keys()]);
    return file.info(name);
  }
}

/**
 * Opens a checkpoint given a `.safetensors` file, a `*.safetensors.index.json`, or a folder holding
 * `model.safetensors.index.json` or `model.safetensors`.
 */
export function openSafetensors(path: string, options: SafetensorsReadOptions = {}): SafetensorsSource {
  const abs = resolve(path);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    throw new HerdError('io_error', `no checkpoint at ${abs}: ${(e as Error).message}`, { cause: e });
  }
  if (isDir) {
    const index = join(abs, SAFETENSORS_INDEX_NAME);
    if (existsSync(index)) return ShardedSafetensors.open(index, options);
    const single = join(abs, SAFETENSORS_SINGLE_NAME);
    if (existsSync(single)) return SafetensorsFile.open(single, options);
    throw new HerdError('checkpoint_mismatch', `${abs} holds neither ${SAFETENSORS_INDEX_NAME} nor ${SAFETENSORS_SINGLE_NAME}; pass the checkpoint file itself`);
  }
  if (abs.endsWith('.index.json')) return ShardedSafetensors.open(abs, options);
  return SafetensorsFile.open(abs, options);
}

export interface ShardedWriteOptions {
  /** Start a new shard once adding a tensor would pass this many data bytes. Default 4 GiB. */
  readonly maxShardBytes?: number;
  /** File stem: shards are `${stem}-00001-of-0000N.safetensors`, the index `${stem}.safetensors.index.json`. */
  readonly stem?: string;
  /** Written into every shard's `__metadata__` and the index's `metadata`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes tensors as shards plus an index in `dir`. Each shard is atomic and the index is written last,
 * so an index never names a shard that was not fully written. Returns the index path.
 */
export async function writeShardedSafetensors(dir: string, tensors: SafetensorsTensors, options: ShardedWriteOptions = {}): Promise<string> {
  const maxShardBytes = options.maxShardBytes ?? 4 * 1024 ** 3;
  const stem = options.stem ?? 'model';
  if (!(maxShardBytes > 0)) throw new HerdError('invalid_argument', `maxShardBytes must be > 0, got ${maxShardBytes}`);
  const groups: string[][] = [[]];
  let size = 0;
  let total = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.byteLength;
    const current = groups[groups.length - 1] as string[];
    if (current.length > 0 && size + bytes > maxShardBytes) {
      groups.push([name]);
      size = bytes;
    } else {
      current.push(name);
      size += bytes;
    }
    total += numelOf(t.shape) * (DTYPE_FACTS[t.dtype]?.bytes ?? 0);
  }
  const n = groups.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  // Encode (and so validate) every shard before writing any.
  const encoded: { file: string; chunks: Uint8Array[] }[] = [];
  for (let i = 0; i < n; i++) {
    const file = `${stem}-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    const part: Record<string, SafetensorsTensors[string]> = {};
    for (const name of groups[i] as string[]) {
      part[name] = tensors[name] as SafetensorsTensors[string];
      weightMap[name] = file;
    }
    encoded.push({ file, chunks: encodeSafetensors(part, options.metadata) });
  }
  for (const { file, chunks } of encoded) await writeFileAtomic(join(dir, file), chunks);
  const indexPath = join(dir, `${stem}.safetensors.index.json`);
  const index = { metadata: { ...options.metadata, total_size: total }, weight_map: weightMap };
  await writeFileAtomic(indexPath, JSON.stringify(index, null, 2) + '\n');
  return indexPath;
}
