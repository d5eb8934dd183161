/**
 * The one config of the Llama 3 language core. Field names follow Meta's `ModelArgs` (camel-cased);
 * `parseLlamaConfig` rejects unknown keys and checks the invariants every other module relies on.
 */
import { ConfigCheck, HerdError, isRecord, showValue } from '@herd/core';

/** Llama 3.1 RoPE frequency scaling ("rope_type": "llama3"), for 128K context. */
export interface RopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  /** Model (residual stream) width. */
  readonly dim: number;
  readonly nLayers: number;
  /** Query heads. */
  readonly nHeads: number;
  /** Key/value heads (GQA); nHeads is a multiple of it. */
  readonly nKvHeads: number;
  /** dim / nHeads, always; kept so callers need not recompute it. */
  readonly headDim: number;
  readonly vocabSize: number;
  /** SwiGLU hidden width (w1, w3 out; w2 in). */
  readonly ffnDim: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly maxSeqLen: number;
  /** Output projection shares the token embedding matrix (Llama 3.2 1B/3B). */
  readonly tieEmbeddings: boolean;
  /** §7.3: a cross-attention layer at every Nth self-attention layer; null for text only. */
  readonly crossAttentionEvery: number | null;
}

const KEYS = [
  'dim',
  'nLayers',
  'nHeads',
  'nKvHeads',
  'headDim',
  'vocabSize',
  'ffnDim',
  'normEps',
  'ropeTheta',
  'ropeScaling',
  'maxSeqLen',
  'tieEmbeddings',
  'crossAttentionEvery',
] as const satisfies readonly (keyof LlamaConfig)[];

const ROPE_KEYS = ['factor', 'lowFreqFactor', 'highFreqFactor', 'originalMaxPositionEmbeddings'] as const satisfies readonly (keyof RopeScaling)[];

/** Defaults for keys that may be left out (Llama 3 values). */
const DEFAULTS = { normEps: 1e-5, ropeTheta: 500_000, ropeScaling: null, tieEmbeddings: false, crossAttentionEvery: null } as const;

function posInt(c: ConfigCheck, name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) c.problem(`${name} must be a positive integer, got ${showValue(v)}`);
  return v as number;
}

function posNum(c: ConfigCheck, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) c.problem(`${name} must be a positive finite number, got ${showValue(v)}`);
  return v as number;
}

function parseRopeScaling(c: ConfigCheck, v: unknown): RopeScaling | null {
  if (v === null || v === undefined) return null;
  if (!isRecord(v)) {
    c.problem(`ropeScaling must be null or {${ROPE_KEYS.join(', ')}}, got ${showValue(v)}`);
    return null;
  }
  c.keys(v, ROPE_KEYS, { at: 'ropeScaling' });
  for (const k of ROPE_KEYS) if (!(k in v)) c.problem(`ropeScaling.${k} is required`);
  const factor = posNum(c, 'ropeScaling.factor', v['factor']);
  const lowFreqFactor = posNum(c, 'ropeScaling.lowFreqFactor', v['lowFreqFactor']);
  const highFreqFactor = posNum(c, 'ropeScaling.highFreqFactor', v['highFreqFactor']);
  const originalMaxPositionEmbeddings = posInt(c, 'ropeScaling.originalMaxPositionEmbeddings', v['originalMaxPositionEmbeddings']);
  if (typeof factor === 'number' && factor < 1) c.problem(`ropeScaling.factor must be >= 1, got ${factor}`);
  if (typeof lowFreqFactor === 'number' && typeof highFreqFactor === 'number' && !(highFreqFactor > lowFreqFactor)) {
    c.problem(`ropeScaling.highFreqFactor (${highFreqFactor}) must be greater than lowFreqFactor (${lowFreqFactor})`);
  }
  return Object.freeze({ factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings });
}

/**
 * Checks and freezes a config. Throws HerdError('unknown_config_key') for keys it does not know
 * (with the valid keys), else HerdError('invalid_config') listing every bad field at once.
 * Optional keys: nKvHeads (= nHeads), headDim (= dim / nHeads), normEps (1e-5), ropeTheta (500000),
 * ropeScaling (null), tieEmbeddings (false), crossAttentionEvery (null).
 */
export function parseLlamaConfig(obj: unknown, source = 'Llama config'): LlamaConfig {
  if (!isRecord(obj)) throw new HerdError('invalid_config', `${source} must be an object, got ${showValue(obj)}`);
  const p = new ConfigCheck(source);
  p.keys(obj, KEYS);
  const config = checkLlamaConfig(obj, p);
  p.finish('invalid Llama config');
  return config;
}

/** The field and invariant checks of `parseLlamaConfig`, recording problems in `p` (which the caller finishes). */
function checkLlamaConfig(obj: Record<string, unknown>, p: ConfigCheck): LlamaConfig {
  const required = (k: (typeof KEYS)[number]): number => {
    const v = obj[k];
    if (v === undefined || v === null) {
      p.problem(`${k} is required`);
      return NaN;
    }
    return posInt(p, k, v);
  };
  const dim = required('dim');
  const nLayers = required('nLayers');
  const nHeads = required('nHeads');
  const nKvHeads = obj['nKvHeads'] === undefined || obj['nKvHeads'] === null ? nHeads : posInt(p, 'nKvHeads', obj['nKvHeads']);
  const vocabSize = required('vocabSize');
  const ffnDim = required('ffnDim');
  const maxSeqLen = required('maxSeqLen');
  const normEps = posNum(p, 'normEps', obj['normEps'] ?? DEFAULTS.normEps);
  const ropeTheta = posNum(p, 'ropeTheta', obj['ropeTheta'] ?? DEFAULTS.ropeTheta);
  const ropeScaling = parseRopeScaling(p, obj['ropeScaling'] ?? DEFAULTS.ropeScaling);
  const tieEmbeddings = obj['tieEmbeddings'] ?? DEFAULTS.tieEmbeddings;
  if (typeof tieEmbeddings !== 'boolean') p.problem(`tieEmbeddings must be a boolean, got ${showValue(tieEmbeddings)}`);
  const every = obj['crossAttentionEvery'] ?? DEFAULTS.crossAttentionEvery;
  if (every !== null) posInt(p, 'crossAttentionEvery', every);

  const ints = [dim, nHeads, nKvHeads].every((v) => Number.isSafeInteger(v) && v > 0);
  const headDim = ints ? dim / nHeads : NaN;
  if (ints) {
    if (dim % nHeads !== 0) p.problem(`dim (${dim}) must be divisible by nHeads (${nHeads})`);
    if (nHeads % nKvHeads !== 0) p.problem(`nHeads (${nHeads}) must be a multiple of nKvHeads (${nKvHeads})`);
    if (dim % nHeads === 0 && headDim % 2 !== 0) p.problem(`head dim dim/nHeads = ${headDim} must be even for RoPE`);
    const given = obj['headDim'];
    if (given !== undefined && given !== null && given !== headDim) {
      p.problem(`headDim (${showValue(given)}) must equal dim / nHeads = ${dim} / ${nHeads} = ${headDim}`);
    }
  }
  if (typeof every === 'number' && Number.isSafeInteger(nLayers) && nLayers > 0 && every > nLayers) {
    p.problem(`crossAttentionEvery (${every}) must be at most nLayers (${nLayers})`);
  }
  return Object.freeze({
    dim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    ffnDim,
    normEps,
    ropeTheta,
    ropeScaling,
    maxSeqLen,
    tieEmbeddings: tieEmbeddings as boolean,
    crossAttentionEvery: every as number | null,
  });
}

/** Keys a Hugging Face Llama config.json carries that herd reads. */
const HF_READ_KEYS = [
  'model_type', 'architectures', 'hidden_act', 'attention_bias', 'mlp_bias', 'rope_parameters', 'rope_scaling', 'rope_theta',
  'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'vocab_size', 'intermediate_size',
  'rms_norm_eps', 'max_position_embeddings', 'tie_word_embeddings', 'torch_dtype', 'dtype',
] as const;

/** Keys of transformers' LlamaConfig/PretrainedConfig (and herd's own) that do not change the architecture: accepted silently. */
const HF_IGNORED_KEYS = [
  '_name_or_path', 'transformers_version', 'initializer_range', 'use_cache', 'pretraining_tp', 'attention_dropout',
  'bos_token_id', 'eos_token_id', 'pad_token_id', 'sep_token_id', 'decoder_start_token_id', 'id2label', 'label2id',
  'return_dict', 'output_hidden_states', 'output_attentions', 'torchscript', 'use_bfloat16', 'tf_legacy_loss', 'pruned_heads',
  'chunk_size_feed_forward', 'is_encoder_decoder', 'is_decoder', 'add_cross_attention', 'tie_encoder_decoder', 'problem_type',
  'tokenizer_class', 'prefix', 'task_specific_params', 'finetuning_task', 'quantization_config', 'max_length', 'min_length',
  'do_sample', 'early_stopping', 'num_beams', 'temperature', 'top_k', 'top_p', 'repetition_penalty', 'num_return_sequences',
  'herd_vocab',
] as const;

/** The `torch_dtype` names transformers writes; herd reads each tensor's own dtype, so this is informational. */
const TORCH_DTYPES = ['float32', 'float16', 'bfloat16', 'float64', 'auto'] as const;

export interface HfConfigOptions {
  /** Where the config came from, for messages: e.g. the config.json path. Default "Hugging Face config". */
  readonly source?: string;
  /** Receives warnings (unknown keys, an unknown torch_dtype); without it they are dropped. */
  readonly warnings?: string[];
}

/**
 * Reads a Hugging Face Llama `config.json`. Keys that do not change the architecture (dtype,
 * token ids, ...) are ignored; keys it does not know are warned about (with the closest known key);
 * settings the Llama 3 core cannot honour are rejected, all at once, naming `source`.
 */
export function fromHfConfig(json: unknown, o: HfConfigOptions = {}): LlamaConfig {
  const source = o.source ?? 'Hugging Face config';
  if (!isRecord(json)) throw new HerdError('invalid_config', `${source} must be a JSON object, got ${showValue(json)}`);
  const p = new ConfigCheck(source);
  p.keys(json, [...HF_READ_KEYS, ...HF_IGNORED_KEYS], { unknown: 'warn' });
  let missingRequired = false;
  const need = (k: string): unknown => {
    if (json[k] === undefined || json[k] === null) {
      p.problem(`${k} is required`);
      missingRequired = true;
    }
    return json[k];
  };
  const modelType = json['model_type'];
  if (modelType !== undefined && modelType !== 'llama') {
    p.problem(`model_type must be "llama", got ${showValue(modelType)} (for mllama, pass its text_config's numbers through parseLlamaConfig)`);
  }
  const architectures = p.stringList(json, 'architectures');
  if (architectures !== undefined && !architectures.some((a) => a.startsWith('Llama'))) {
    p.warn(`architectures ${showValue(architectures)} names no Llama class (expected LlamaForCausalLM); loading it as a Llama anyway`);
  }
  for (const k of ['torch_dtype', 'dtype']) p.string(json, k, { oneOf: TORCH_DTYPES, warnOnly: true });
  const act = json['hidden_act'];
  if (act !== undefined && act !== 'silu') p.problem(`hidden_act must be "silu" (SwiGLU), got ${showValue(act)}`);
  for (const k of ['attention_bias', 'mlp_bias']) {
    if (json[k] === true) p.problem(`${k} is true; the Llama 3 core has no biases`);
  }
  let ropeScaling: Record<string, unknown> | null = null;
  // transformers ≥ 5 writes `rope_parameters` (θ and scaling together); older files `rope_theta` + `rope_scaling`.
  const rp = json['rope_parameters'];
  const rs = isRecord(rp) ? rp : json['rope_scaling'];
  if (rs !== undefined && rs !== null) {
    if (!isRecord(rs)) {
      p.problem(`rope_scaling must be an object or null, got ${showValue(rs)}`);
    } else {
      const type = rs['rope_type'] ?? rs['type'];
      if (type === 'default') {
        ropeScaling = null;
      } else if (type !== 'llama3') {
        p.problem(`rope_scaling.rope_type ${showValue(type)} is not supported; only "llama3" (Llama 3.1 scaling)`);
      } else {
        ropeScaling = {
          factor: rs['factor'],
          lowFreqFactor: rs['low_freq_factor'],
          highFreqFactor: rs['high_freq_factor'],
          originalMaxPositionEmbeddings: rs['original_max_position_embeddings'],
        };
      }
    }
  }
  const config = {
    dim: need('hidden_size'),
    nLayers: need('num_hidden_layers'),
    nHeads: need('num_attention_heads'),
    nKvHeads: json['num_key_value_heads'] ?? json['num_attention_heads'],
    headDim: json['head_dim'] ?? undefined,
    vocabSize: need('vocab_size'),
    ffnDim: need('intermediate_size'),
    // Hugging Face's LlamaConfig defaults, used only when the file leaves them out.
    normEps: json['rms_norm_eps'] ?? 1e-6,
    ropeTheta: json['rope_theta'] ?? (isRecord(rp) ? rp['rope_theta'] : undefined) ?? 10_000,
    ropeScaling,
    maxSeqLen: need('max_position_embeddings'),
    tieEmbeddings: json['tie_word_embeddings'] ?? false,
  };
  // With every required key there, the core's own checks run on the same list, so one error shows all
  // problems; with some missing they would only repeat "is required" under the core's names.
  const parsed = missingRequired ? undefined : checkLlamaConfig(config, p);
  const warnings = p.finish(
    'unsupported Hugging Face Llama config',
    '(Hugging Face keys → core names: hidden_size=dim, num_hidden_layers=nLayers, num_attention_heads=nHeads, num_key_value_heads=nKvHeads, intermediate_size=ffnDim, rms_norm_eps=normEps, max_position_embeddings=maxSeqLen)',
  );
  o.warnings?.push(...warnings);
  return parsed as LlamaConfig;
}

/**
 * RoPE inverse frequencies θ^(-2i/headDim), i < headDim/2, with Llama 3.1 scaling when given:
 * wavelengths shorter than originalMax/highFreqFactor are kept, longer than originalMax/lowFreqFactor
 * are divided by `factor`, and those between are blended smoothly. Computed in f64 and rounded to
 * f32 once at the end (Meta computes in f32 throughout, so the last bit may differ).
 */
export function ropeFrequencies(headDim: number, theta: number, scaling: RopeScaling | null = null): Float32Array {
  if (!Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new HerdError('invalid_argument', `headDim must be a positive even integer, got ${headDim}`);
  }
  if (!(theta > 0)) throw new HerdError('invalid_argument', `theta must be positive, got ${theta}`);
  const out = new Float64Array(headDim / 2);
  for (let i = 0; i < out.length; i++) out[i] = 1 / theta ** ((2 * i) / headDim);
  if (scaling === null) return Float32Array.from(out);
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
  const lowFreqWavelen = oldLen / lowFreqFactor;
  const highFreqWavelen = oldLen / highFreqFactor;
  for (let i = 0; i < out.length; i++) {
    const freq = out[i] as number;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) continue;
    if (wavelen > lowFreqWavelen) {
      out[i] = freq / factor;
    } else {
      const smooth = (oldLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      out[i] = ((1 - smooth) * freq) / factor + smooth * freq;
    }
  }
  return Float32Array.from(out);
}

/** `ropeFrequencies` for a config. */
export function ropeFrequenciesFor(config: LlamaConfig): Float32Array {
  return ropeFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
}

/** Parameter count of the language core (embeddings, blocks, final norm, output unless tied). */
export function parameterCount(config: LlamaConfig): number {
  const { dim, nLayers, nHeads, nKvHeads, headDim, vocabSize, ffnDim, tieEmbeddings } = config;
  const attention = dim * nHeads * headDim + 2 * dim * nKvHeads * headDim + nHeads * headDim * dim;
  const ffn = 3 * dim * ffnDim;
  const norms = 2 * dim;
  return vocabSize * dim * (tieEmbeddings ? 1 : 2) + nLayers * (attention + ffn + norms) + dim;
}

/** The Hugging Face `config.json` of a config, so our checkpoints load in HF tools (and back through fromHfConfig). */
export function toHfConfig(c: LlamaConfig, extra: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: c.dim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    intermediate_size: c.ffnDim,
    vocab_size: c.vocabSize,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling
      ? { rope_type: 'llama3', factor: c.ropeScaling.factor, low_freq_factor: c.ropeScaling.lowFreqFactor, high_freq_factor: c.ropeScaling.highFreqFactor, original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings }
      : null,
    max_position_embeddings: c.maxSeqLen,
    tie_word_embeddings: c.tieEmbeddings,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: 'float32',
    ...extra,
  };
}
