/**
 * The one config of the speech encoder (Llama 3 paper §7.1 Speech; SPEC.md "Speech"): a Conformer
 * over 80-dim log-mel frames stacked 4 at a time (40 ms), with its BEST-RQ pre-training settings.
 * `parseSpeechConfig` rejects unknown keys and checks the invariants the model relies on.
 */
import { HerdError, ProblemList } from '@herd/core';

export interface BestRqConfig {
  /** Independent codebooks (multi-softmax heads); 16 in the paper. */
  readonly codebooks: number;
  /** Entries per codebook; 8,192 in the paper. */
  readonly codebookSize: number;
  /** Width of the frozen random projection and of the codes; 16 in the paper. */
  readonly codeDim: number;
  /** Probability that an input frame starts a masked span; 2.5% in the paper. */
  readonly maskProb: number;
  /** Span length in 10 ms input frames (a multiple of `stack`); 32 in the paper. */
  readonly maskSpan: number;
  /** Masked input frames are replaced by N(0, noiseStd²) noise (BEST-RQ §3.1: 0.1). */
  readonly noiseStd: number;
}

export interface SpeechConfig {
  readonly nMels: number;
  /** Input frames stacked into one encoder frame (4 → 40 ms). */
  readonly stack: number;
  readonly dim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Hidden width of each Macaron FFN. */
  readonly ffnDim: number;
  /** Depthwise convolution kernel of the convolution module. */
  readonly convKernel: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly bestRq: BestRqConfig;
}

const KEYS = ['nMels', 'stack', 'dim', 'nLayers', 'nHeads', 'ffnDim', 'convKernel', 'normEps', 'ropeTheta', 'bestRq'] as const satisfies readonly (keyof SpeechConfig)[];
const BEST_RQ_KEYS = ['codebooks', 'codebookSize', 'codeDim', 'maskProb', 'maskSpan', 'noiseStd'] as const satisfies readonly (keyof BestRqConfig)[];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(problems: ProblemList, where: string, obj: Record<string, unknown>, valid: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!valid.includes(k)) problems.add(`unknown key '${k}' in ${where}; valid keys: ${valid.join(', ')}`);
}

const posInt = (problems: ProblemList, name: string, v: unknown): number => {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) problems.add(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
};
const posNum = (problems: ProblemList, name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) problems.add(`${name} must be a positive finite number, got ${JSON.stringify(v)}`);
  return v as number;
};

/** Checks and freezes a config; reports every problem at once. */
export function parseSpeechConfig(raw: unknown): SpeechConfig {
  const problems = new ProblemList();
  if (!isRecord(raw)) throw new HerdError('invalid_config', `speech config must be an object, got ${JSON.stringify(raw)}`);
  const hasUnknown = Object.keys(raw).some((k) => !(KEYS as readonly string[]).includes(k));
  if (hasUnknown) {
    unknownKeys(problems, 'speech config', raw, KEYS);
    problems.throwIfAny('unknown_config_key', 'speech config');
  }
  for (const k of KEYS) if (!(k in raw)) problems.add(`speech config: '${k}' is required`);
  const c = {
    nMels: posInt(problems, 'nMels', raw['nMels']),
    stack: posInt(problems, 'stack', raw['stack']),
    dim: posInt(problems, 'dim', raw['dim']),
    nLayers: posInt(problems, 'nLayers', raw['nLayers']),
    nHeads: posInt(problems, 'nHeads', raw['nHeads']),
    ffnDim: posInt(problems, 'ffnDim', raw['ffnDim']),
    convKernel: posInt(problems, 'convKernel', raw['convKernel']),
    normEps: posNum(problems, 'normEps', raw['normEps']),
    ropeTheta: posNum(problems, 'ropeTheta', raw['ropeTheta']),
  };
  if (Number.isInteger(c.dim) && Number.isInteger(c.nHeads) && c.dim % c.nHeads !== 0) problems.add(`dim ${c.dim} must be a multiple of nHeads ${c.nHeads}`);
  if (Number.isInteger(c.dim) && Number.isInteger(c.nHeads) && (c.dim / c.nHeads) % 2 !== 0) problems.add(`head dim ${c.dim / c.nHeads} must be even for rotary embeddings`);
  if (Number.isInteger(c.convKernel) && c.convKernel % 2 !== 1) problems.add(`convKernel must be odd (same-length depthwise convolution), got ${c.convKernel}`);
  const b = raw['bestRq'];
  let bestRq = {} as BestRqConfig;
  if (!isRecord(b)) problems.add(`bestRq must be an object with ${BEST_RQ_KEYS.join(', ')}, got ${JSON.stringify(b)}`);
  else {
    unknownKeys(problems, 'bestRq', b, BEST_RQ_KEYS);
    bestRq = Object.freeze({
      codebooks: posInt(problems, 'bestRq.codebooks', b['codebooks']),
      codebookSize: posInt(problems, 'bestRq.codebookSize', b['codebookSize']),
      codeDim: posInt(problems, 'bestRq.codeDim', b['codeDim']),
      maskProb: posNum(problems, 'bestRq.maskProb', b['maskProb']),
      maskSpan: posInt(problems, 'bestRq.maskSpan', b['maskSpan']),
      noiseStd: posNum(problems, 'bestRq.noiseStd', b['noiseStd']),
    });
    if (bestRq.maskProb >= 1) problems.add(`bestRq.maskProb must be < 1, got ${bestRq.maskProb}`);
    if (Number.isInteger(bestRq.maskSpan) && Number.isInteger(c.stack) && bestRq.maskSpan % c.stack !== 0) problems.add(`bestRq.maskSpan ${bestRq.maskSpan} must be a multiple of stack ${c.stack} (spans cover whole encoder frames)`);
  }
  problems.throwIfAny('invalid_config', 'speech config');
  return Object.freeze({ ...c, bestRq });
}

export function headDim(cfg: SpeechConfig): number {
  return cfg.dim / cfg.nHeads;
}
