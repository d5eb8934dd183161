import { HerdError } from '@herd/core';
import { ACC_SCALE_INPUT, FINITE_OUTPUT, Graph, LOSS_SCALE_INPUT, LR_INPUT, M_STATE, PARAMS_STATE, STEP_INPUT, type StateSlot, type TrainingGraphs, V_STATE, allocHost, toOnnx } from '@herd/graph';
import ort from 'onnxruntime-node';
import { type Device } from './device.js';
import { type Feed, Session, type SessionOptions } from './session.js';
import { type HostTensor, fromOrt, hostTensor, scalarTensor, toOrt } from './tensor.js';

export interface StepResult {
  readonly loss: number;
  readonly gradNorm: number;
  readonly metrics: Readonly<Record<string, number>>;
  /** Loss scaling only: the update was skipped because the gradients overflowed. */
  readonly skipped?: boolean;
  /** Loss scaling only: the scale used for this step. */
  readonly lossScale?: number;
}

/** Dynamic loss scaling (graphs built with `lossScaling`): halve on overflow, double after a run of good steps. */
export interface LossScalerOptions {
  readonly initial: number;
  readonly growthInterval: number;
  readonly min: number;
}

export const LOSS_SCALER_DEFAULTS: LossScalerOptions = { initial: 2 ** 15, growthInterval: 200, min: 1 };

export interface LossScalerState {
  readonly scale: number;
  readonly goodSteps: number;
}

/**
 * Runs compiled training graphs, keeping parameters and optimizer state as ORT tensors between
 * steps: step t's outputs are step t+1's inputs, on the device when it has one. Host copies are
 * made only when asked for (`readState`).
 */
export class TrainingRun {
  private state = new Map<string, ort.Tensor>();
  private accState = new Map<string, ort.Tensor>();
  private accCount = 0;
  /** Number of optimizer updates applied so far. */
  step = 0;
  private scaler: LossScalerState;
  private readonly scalerOptions: LossScalerOptions;

  private constructor(
    private readonly graphs: TrainingGraphs,
    private readonly stepSession: Session,
    private readonly accSession: Session | undefined,
    private readonly applySession: Session | undefined,
    private readonly reader: Session | undefined,
    scaler: Partial<LossScalerOptions> = {},
  ) {
    this.scalerOptions = { ...LOSS_SCALER_DEFAULTS, ...scaler };
    this.scaler = { scale: this.scalerOptions.initial, goodSteps: 0 };
  }

  get device(): Device {
    return this.stepSession.device;
  }

  /** Compiles sessions and sets the initial state from parameter values (moments start at zero). */
  static async create(graphs: TrainingGraphs, params: Readonly<Record<string, HostTensor>>, options: SessionOptions & { lossScaler?: Partial<LossScalerOptions> } = {}): Promise<TrainingRun> {
    const stateOutputs = graphs.state.map((s) => s.output);
    // Only the step session is profiled when a profile is asked for.
    const { profilePrefix, ...rest } = options;
    const opts = (extra: readonly string[]): SessionOptions => ({ ...rest, deviceOutputs: extra });
    const stepSession = await Session.create(graphs.step, { ...opts(stateOutputs), ...(profilePrefix ? { profilePrefix } : {}) }, 'train_step');
    const accSession = graphs.accumulate ? await Session.create(graphs.accumulate.model, opts(graphs.accumulate.state.map((s) => s.output)), 'accumulate') : undefined;
    const applySession = graphs.apply ? await Session.create(graphs.apply.model, opts(graphs.apply.state.map((s) => s.output)), 'apply') : undefined;
    // Device-resident tensors cannot be read from Node directly: copy through an identity graph whose outputs are on the host.
    const reader = stepSession.device === 'cpu' ? undefined : await Session.create(identityModel(graphs.state, graphs.layout), { ...rest, deviceOutputs: [] }, 'state_reader');
    const run = new TrainingRun(graphs, stepSession, accSession, applySession, reader, options.lossScaler);
    run.initState(params);
    return run;
  }

  private initState(params: Readonly<Record<string, HostTensor>>): void {
    const packed = this.pack(params, '');
    for (const s of this.graphs.state) this.setSlot(this.state, s.input, toOrt(s.init === 'params' ? packed : this.zeros()));
  }

  private zeros(): HostTensor {
    return hostTensor(this.graphs.layout.dtype, [this.graphs.layout.size]);
  }

  /** Packs named tensors (`prefix` + parameter name) into one vector following the layout. */
  private pack(named: Readonly<Record<string, HostTensor>>, prefix: string): HostTensor {
    const { layout } = this.graphs;
    const missing = layout.entries.filter((e) => !named[prefix + e.name]).map((e) => prefix + e.name);
    if (missing.length) throw new HerdError('missing_input', `TrainingRun: no value for ${missing.join(', ')}`);
    const flat = allocHost(layout.dtype, layout.size) as Float32Array;
    for (const e of layout.entries) {
      const t = named[prefix + e.name]!;
      if (t.shape.join() !== e.shape.join() || t.dtype !== layout.dtype) {
        throw new HerdError('checkpoint_mismatch', `TrainingRun: '${prefix + e.name}' is ${t.dtype}[${t.shape}], the graph needs ${layout.dtype}[${e.shape}]`);
      }
      flat.set(t.data as Float32Array, e.offset);
    }
    return hostTensor(layout.dtype, [layout.size], flat);
  }

  /** Splits a packed vector back into named tensors. */
  private unpack(flat: HostTensor, prefix: string): Record<string, HostTensor> {
    const data = flat.data as Float32Array;
    return Object.fromEntries(this.graphs.layout.entries.map((e) => [prefix + e.name, hostTensor(flat.dtype, e.shape, data.slice(e.offset, e.offset + e.length))]));
  }

  private setSlot(map: Map<string, ort.Tensor>, name: string, t: ort.Tensor): void {
    const old = map.get(name);
    map.set(name, t);
    if (old && old !== t && old.location === 'gpu-buffer') old.dispose();
  }

  private feeds(batch: Readonly<Record<string, Feed>>, slots: readonly StateSlot[], map: Map<string, ort.Tensor>): Record<string, Feed> {
    const f: Record<string, Feed> = { ...batch };
    for (const s of slots) f[s.input] = map.get(s.input)!;
    return f;
  }

  private scalars(out: Record<string, ort.Tensor>): StepResult {
    const num = (k: string): number => {
      const t = out[k];
      return t ? Number((t.data as Float32Array)[0]) : NaN;
    };
    const metrics = Object.fromEntries(this.graphs.metricNames.map((m) => [m, num(`metric.${m}`)]));
    if (!this.graphs.lossScaling) return { loss: num('loss'), gradNorm: num('opt.gradNorm'), metrics };
    return { loss: num('loss'), gradNorm: num('opt.gradNorm'), metrics, lossScale: this.scaler.scale, ...(out[FINITE_OUTPUT] ? { skipped: num(FINITE_OUTPUT) === 0 } : {}) };
  }

  /** Feeds for the optimizer inputs a session declares (the loss scale only where the graph uses it). */
  private optFeeds(session: Session, values: Readonly<Record<string, number>>): Record<string, HostTensor> {
    const wanted = new Set(session.inputs.map((i) => i.name));
    const all: Record<string, number> = { ...values, ...(this.graphs.lossScaling ? { [LOSS_SCALE_INPUT]: this.scaler.scale } : {}) };
    return Object.fromEntries(Object.entries(all).filter(([k]) => wanted.has(k)).map(([k, v]) => [k, scalarTensor(v)]));
  }

  /** Advances the step and the loss scaler after an update; returns whether it was applied. */
  private settle(r: StepResult): boolean {
    if (!this.graphs.lossScaling) return true;
    if (r.skipped) {
      this.scaler = { scale: Math.max(this.scalerOptions.min, this.scaler.scale / 2), goodSteps: 0 };
      return false;
    }
    const good = this.scaler.goodSteps + 1;
    this.scaler = good >= this.scalerOptions.growthInterval ? { scale: this.scaler.scale * 2, goodSteps: 0 } : { scale: this.scaler.scale, goodSteps: good };
    return true;
  }

  /** The loss scaler's state, for checkpoints. */
  get lossScaler(): LossScalerState {
    return this.scaler;
  }

  set lossScaler(s: LossScalerState) {
    this.scaler = { ...s };
  }

  private absorb(out: Record<string, ort.Tensor>, slots: readonly StateSlot[], map: Map<string, ort.Tensor>): void {
    for (const s of slots) this.setSlot(map, s.input, out[s.output]!);
  }

  /** One full optimizer step on one batch. */
  async trainStep(batch: Readonly<Record<string, Feed>>, lr: number): Promise<StepResult> {
    const t = this.step + 1;
    const feeds = this.feeds({ ...batch, ...this.optFeeds(this.stepSession, { [STEP_INPUT]: t, [LR_INPUT]: lr }) }, this.graphs.state, this.state);
    const out = await this.stepSession.runRaw(feeds);
    const r = this.scalars(out);
    this.absorb(out, this.graphs.state, this.state);
    if (this.settle(r)) this.step = t;
    return r;
  }

  /** Adds one micro-batch's gradients to the running sums (needs graphs built with accumulation). */
  async accumulate(batch: Readonly<Record<string, Feed>>): Promise<StepResult> {
    if (!this.accSession || !this.graphs.accumulate) throw new HerdError('invalid_argument', 'accumulate: graphs were built without accumulation');
    if (this.accCount === 0) for (const s of this.graphs.accumulate.state) this.setSlot(this.accState, s.input, toOrt(this.zeros()));
    const out = await this.accSession.runRaw(this.feeds({ ...batch, [PARAMS_STATE]: this.state.get(PARAMS_STATE)!, ...this.optFeeds(this.accSession, {}) }, this.graphs.accumulate.state, this.accState));
    this.absorb(out, this.graphs.accumulate.state, this.accState);
    this.accCount++;
    return this.scalars(out);
  }

  /** Applies the accumulated gradients (averaged over the micro-batches) as one update. */
  async applyAccumulated(lr: number): Promise<StepResult> {
    if (!this.applySession || !this.graphs.apply || !this.graphs.accumulate) throw new HerdError('invalid_argument', 'applyAccumulated: graphs were built without accumulation');
    if (this.accCount === 0) throw new HerdError('invalid_argument', 'applyAccumulated: nothing accumulated');
    const t = this.step + 1;
    const acc = Object.fromEntries(this.graphs.accumulate.state.map((s) => [s.input, this.accState.get(s.input)!]));
    const feeds = this.feeds({ ...acc, ...this.optFeeds(this.applySession, { [STEP_INPUT]: t, [LR_INPUT]: lr, [ACC_SCALE_INPUT]: 1 / this.accCount }) }, this.graphs.apply.state, this.state);
    const out = await this.applySession.runRaw(feeds);
    this.absorb(out, this.graphs.apply.state, this.state);
    this.accCount = 0;
    const r = { ...this.scalars(out), loss: NaN };
    if (this.settle(r)) this.step = t;
    return r;
  }

  /** Ends profiling of the step session (created with `profilePrefix`). */
  endProfiling(): void {
    this.stepSession.endProfiling();
  }

  /** Host copies of the packed state vectors, keyed by state input name. */
  private async readPacked(): Promise<Record<string, HostTensor>> {
    if (!this.reader) return Object.fromEntries([...this.state].map(([k, v]) => [k, fromOrt(v, k)]));
    const out = await this.reader.run(Object.fromEntries(this.state));
    return Object.fromEntries(this.graphs.state.map((s) => [s.input, out[`read.${s.input}`]!]));
  }

  /**
   * Host copies of the whole state by name — each parameter under its own name and its AdamW
   * moments as `adam.m.<name>` / `adam.v.<name>` — the layout checkpoints use.
   */
  async readState(): Promise<Record<string, HostTensor>> {
    const packed = await this.readPacked();
    return { ...this.unpack(packed[PARAMS_STATE]!, ''), ...this.unpack(packed[M_STATE]!, 'adam.m.'), ...this.unpack(packed[V_STATE]!, 'adam.v.') };
  }

  /** Host copies of the parameters only, keyed by parameter name. */
  async readParams(): Promise<Record<string, HostTensor>> {
    return this.unpack((await this.readPacked())[PARAMS_STATE]!, '');
  }

  /** Replaces the whole state (e.g. from a checkpoint written from `readState`). */
  loadState(state: Readonly<Record<string, HostTensor>>, step: number): void {
    this.setSlot(this.state, PARAMS_STATE, toOrt(this.pack(state, '')));
    this.setSlot(this.state, M_STATE, toOrt(this.pack(state, 'adam.m.')));
    this.setSlot(this.state, V_STATE, toOrt(this.pack(state, 'adam.v.')));
    this.step = step;
    this.accCount = 0;
  }

  async release(): Promise<void> {
    for (const t of [...this.state.values(), ...this.accState.values()]) if (t.location === 'gpu-buffer') t.dispose();
    for (const s of [this.stepSession, this.accSession, this.applySession, this.reader]) if (s) await s.release();
  }
}

function identityModel(slots: readonly StateSlot[], layout: TrainingGraphs['layout']) {
  const g = new Graph();
  const outputs = Object.fromEntries(slots.map((s) => [`read.${s.input}`, g.input(s.input, layout.dtype, [layout.size])]));
  return toOnnx(g, { outputs, name: 'state_reader' });
}
