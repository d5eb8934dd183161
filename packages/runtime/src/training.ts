import { HerdError } from '@herd/core';
import { ACC_SCALE_INPUT, FINITE_OUTPUT, Graph, LOSS_SCALE_INPUT, LR_INPUT, STEP_INPUT, type StateSlot, type TrainingGraphs, toOnnx } from '@herd/graph';
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
    const opts = (extra: readonly string[]): SessionOptions => ({ ...options, deviceOutputs: extra });
    const stepSession = await Session.create(graphs.step, opts(stateOutputs), 'train_step');
    const accSession = graphs.accumulate ? await Session.create(graphs.accumulate.model, opts(graphs.accumulate.state.map((s) => s.output)), 'accumulate') : undefined;
    const applySession = graphs.apply ? await Session.create(graphs.apply.model, opts(graphs.apply.state.map((s) => s.output)), 'apply') : undefined;
    // Device-resident tensors cannot be read from Node directly: copy through an identity graph whose outputs are on the host.
    const reader = stepSession.device === 'cpu' ? undefined : await Session.create(identityModel(graphs.state), { ...options, deviceOutputs: [] }, 'state_reader');
    const run = new TrainingRun(graphs, stepSession, accSession, applySession, reader, options.lossScaler);
    run.initState(params);
    return run;
  }

  private initState(params: Readonly<Record<string, HostTensor>>): void {
    const missing = this.graphs.state.filter((s) => s.init === 'param' && !params[s.param]).map((s) => s.param);
    if (missing.length) throw new HerdError('missing_input', `TrainingRun: no initial value for parameters: ${missing.join(', ')}`);
    for (const s of this.graphs.state) {
      const v = s.init === 'param' ? params[s.param]! : hostTensor(s.dtype, s.shape);
      this.setSlot(this.state, s.input, toOrt(v));
    }
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
    if (this.accCount === 0) for (const s of this.graphs.accumulate.state) this.setSlot(this.accState, s.input, toOrt(hostTensor(s.dtype, s.shape)));
    const params = Object.fromEntries(this.graphs.state.filter((s) => s.init === 'param').map((s) => [s.input, this.state.get(s.input)!]));
    const out = await this.accSession.runRaw(this.feeds({ ...batch, ...params, ...this.optFeeds(this.accSession, {}) }, this.graphs.accumulate.state, this.accState));
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

  /** Host copies of the whole state (parameters and moments), keyed by state input name. */
  async readState(): Promise<Record<string, HostTensor>> {
    if (!this.reader) return Object.fromEntries([...this.state].map(([k, v]) => [k, fromOrt(v, k)]));
    const feeds = Object.fromEntries([...this.state].map(([k, v]) => [k, v]));
    const out = await this.reader.run(feeds);
    return Object.fromEntries(this.graphs.state.map((s) => [s.input, out[`read.${s.input}`]!]));
  }

  /** Host copies of the parameters only, keyed by parameter name. */
  async readParams(): Promise<Record<string, HostTensor>> {
    const st = await this.readState();
    return Object.fromEntries(this.graphs.state.filter((s) => s.init === 'param').map((s) => [s.param, st[s.input]!]));
  }

  /** Replaces the whole state (e.g. from a checkpoint). */
  loadState(state: Readonly<Record<string, HostTensor>>, step: number): void {
    const missing = this.graphs.state.filter((s) => !state[s.input]).map((s) => s.input);
    if (missing.length) throw new HerdError('checkpoint_mismatch', `loadState: the checkpoint lacks ${missing.join(', ')}`);
    for (const s of this.graphs.state) this.setSlot(this.state, s.input, toOrt(state[s.input]!));
    this.step = step;
    this.accCount = 0;
  }

  get stateSlots(): readonly StateSlot[] {
    return this.graphs.state;
  }

  async release(): Promise<void> {
    for (const t of [...this.state.values(), ...this.accState.values()]) if (t.location === 'gpu-buffer') t.dispose();
    for (const s of [this.stepSession, this.accSession, this.applySession, this.reader]) if (s) await s.release();
  }
}

function identityModel(slots: readonly StateSlot[]) {
  const g = new Graph();
  const outputs = Object.fromEntries(slots.map((s) => [`read.${s.input}`, g.input(s.input, s.dtype, s.shape)]));
  return toOnnx(g, { outputs, name: 'state_reader' });
}
