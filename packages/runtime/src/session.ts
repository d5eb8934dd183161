import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { HerdError, ProblemList, writeFileAtomic } from '@herd/core';
import { type EmittedModel, type IoSpec, formatShape } from '@herd/graph';
import ort from 'onnxruntime-node';
import { DEFAULT_DEVICE, DEVICES, type Device } from './device.js';
import { type HostTensor, fromOrt, ortType, toOrt } from './tensor.js';

export interface SessionOptions {
  /** A device resolved by the app (`resolveDevice`); default DEFAULT_DEVICE (the CPU). */
  device?: Device;
  /** Intra-op threads for the CPU provider; default: `defaultThreads()`, the app's setting or every core Node may use (ONNX Runtime's own default can be 1). */
  threads?: number;
  /** Outputs to keep on the device (WebGPU/CUDA) instead of copying them to host memory. */
  deviceOutputs?: readonly string[];
  /** Folder against which the model's external-data paths resolve. */
  modelDir?: string;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write an ONNX Runtime profile (Chrome trace JSON) with this file prefix; it is completed by `endProfiling`. */
  profilePrefix?: string;
}

export type Feed = HostTensor | ort.Tensor;

/** The onnxruntime-node version in use (shown by `herd info`). */
export function ortVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

function isOrtTensor(v: Feed): v is ort.Tensor {
  return v instanceof ort.Tensor;
}

function providers(device: Device): ort.InferenceSession.ExecutionProviderConfig[] {
  if (device === 'cuda') return [{ name: 'cuda' }, 'cpu'];
  if (device === 'webgpu') return ['webgpu', 'cpu'];
  return ['cpu'];
}

let processThreads: number | undefined;

/**
 * Sets the intra-op thread count of every later session that names none (the app reads it from its flags or
 * `HERD_THREADS`, so several jobs can share a machine without each taking every core); undefined restores the default.
 */
export function setDefaultThreads(threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new HerdError('invalid_argument', `default thread count must be a positive integer, got ${threads}`);
  processThreads = threads;
}

/** Intra-op threads when the caller names none: the app's setting, else every core Node may use. */
export function defaultThreads(): number {
  return processThreads ?? availableParallelism();
}

/** A device as a model card states where a run trained: 'cpu (2 threads)', 'webgpu', 'cuda' (threads only matter on the CPU). */
export function deviceDescription(device: Device): string {
  return device === 'cpu' ? `cpu (${defaultThreads()} thread${defaultThreads() === 1 ? '' : 's'})` : device;
}

/**
 * One ONNX Runtime session with herd's checks around it: all missing or mistyped inputs are reported
 * at once before a run, and runtime failures keep ORT's error as `cause`.
 */
export class Session {
  private constructor(
    readonly inner: ort.InferenceSession,
    readonly device: Device,
    readonly inputs: readonly IoSpec[],
    readonly outputs: readonly IoSpec[],
    private readonly label: string,
  ) {}

  static async create(model: EmittedModel, options: SessionOptions = {}, label = 'model'): Promise<Session> {
    const device = options.device ?? DEFAULT_DEVICE;
    // Resolved at the edge; this only catches a caller passing 'auto' or a typo past the types.
    if (!DEVICES.includes(device)) throw new HerdError('invalid_argument', `${label}: device '${String(device)}' is not one of ${DEVICES.join(', ')}; resolve requests such as 'auto' with resolveDevice first`);
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: providers(device),
      graphOptimizationLevel: options.graphOptimization ?? 'all',
      logSeverityLevel: 3,
    };
    so.intraOpNumThreads = options.threads !== undefined && options.threads > 0 ? options.threads : defaultThreads();
    if (options.profilePrefix) {
      so.enableProfiling = true;
      so.profileFilePrefix = options.profilePrefix;
    }
    if (options.deviceOutputs?.length && device !== 'cpu') {
      const loc = device === 'webgpu' ? 'gpu-buffer' : 'cpu';
      so.preferredOutputLocation = Object.fromEntries(model.outputs.map((o) => [o.name, options.deviceOutputs!.includes(o.name) ? loc : 'cpu'])) as never;
    }
    try {
      let inner: ort.InferenceSession;
      if (model.externalFiles.length > 0) {
        if (!options.modelDir) throw new HerdError('invalid_argument', `${label}: the model has external data (${model.externalFiles.join(', ')}); pass modelDir`);
        // ORT resolves external-data locations against the model file's folder, so the model is written there.
        const path = `${options.modelDir}/.herd-${createHash('sha256').update(model.bytes).digest('hex').slice(0, 16)}.onnx`;
        await writeFileAtomic(path, model.bytes);
        inner = await ort.InferenceSession.create(path, so);
      } else {
        inner = await ort.InferenceSession.create(model.bytes, so);
      }
      return new Session(inner, device, model.inputs, model.outputs, label);
    } catch (e) {
      if (e instanceof HerdError) throw e;
      throw new HerdError('runtime_error', `${label}: ONNX Runtime could not load the model on ${device}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Checks feeds against the declared inputs and reports every problem at once. */
  private check(feeds: Readonly<Record<string, Feed>>): void {
    const problems = new ProblemList();
    for (const spec of this.inputs) {
      const f = feeds[spec.name];
      if (!f) {
        problems.add(`missing input '${spec.name}' (${spec.dtype}${formatShape(spec.shape)})`);
        continue;
      }
      const type = isOrtTensor(f) ? f.type : ortType(f.dtype);
      const dims = isOrtTensor(f) ? f.dims : f.shape;
      if (type !== ortType(spec.dtype)) problems.add(`input '${spec.name}': expected ${spec.dtype}, got ${type}`);
      const bad = dims.length !== spec.shape.length || spec.shape.some((d, i) => typeof d === 'number' && d !== dims[i]);
      if (bad) problems.add(`input '${spec.name}': expected shape ${formatShape(spec.shape)}, got ${formatShape(dims)}`);
    }
    const known = new Set(this.inputs.map((i) => i.name));
    for (const name of Object.keys(feeds)) if (!known.has(name)) problems.add(`unknown input '${name}' (inputs: ${[...known].join(', ')})`);
    problems.throwIfAny('missing_input', `${this.label}: bad inputs`);
  }

  /** Runs and returns raw ORT tensors (device-resident outputs stay on the device). */
  async runRaw(feeds: Readonly<Record<string, Feed>>, fetch?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    this.check(feeds);
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, isOrtTensor(v) ? v : toOrt(v)]));
    try {
      return (fetch ? await this.inner.run(ortFeeds, fetch as string[]) : await this.inner.run(ortFeeds)) as Record<string, ort.Tensor>;
    } catch (e) {
      throw new HerdError('runtime_error', `${this.label}: run failed on ${this.device}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Runs and returns host tensors. */
  async run(feeds: Readonly<Record<string, Feed>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    const out = await this.runRaw(feeds, fetch);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, fromOrt(v, `${this.label}:${k}`)]));
  }

  /** Ends profiling (see `profilePrefix`); ONNX Runtime writes the trace file. */
  endProfiling(): void {
    this.inner.endProfiling();
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

/**
 * Sessions cached by model bytes and options, so a graph compiled for the same shapes is loaded once.
 */
export class SessionCache {
  private readonly sessions = new Map<string, Promise<Session>>();

  get(model: EmittedModel, options: SessionOptions = {}, label?: string): Promise<Session> {
    const key = createHash('sha256').update(model.bytes).update(JSON.stringify(options)).digest('hex');
    let s = this.sessions.get(key);
    if (!s) {
      s = Session.create(model, options, label);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  get size(): number {
    return this.sessions.size;
  }

  async clear(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}
