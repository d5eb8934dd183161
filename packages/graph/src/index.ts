export type { DType, HostArray } from './ir/dtype.js';
export { isFloat, bytesPerElement, allocHost } from './ir/dtype.js';
export type { Dim, Shape } from './ir/shape.js';
export { formatShape, numel, isStatic, broadcastShapes } from './ir/shape.js';
export { Graph, Tensor, f32ToF16Bits } from './ir/tensor.js';
export type { OpName, ParamOptions, ExternalData } from './ir/tensor.js';
export {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, erf, relu, abs, reciprocal, sin, cos, logicalNot, isNaN, isInf,
  add, sub, mul, div, pow, maximum, minimum, equal, less, greater, logicalAnd, logicalOr, where, cast, stopGradient,
  sum, mean, max, logSumExp,
  reshape, transpose, swapAxes, concat, slice, expand, unsqueeze, squeeze, pad,
  gather, gatherElements, scatterAddRows, scatterElementsAdd,
  matmul, conv, convTranspose, softmax,
} from './ops.js';
export type { TensorLike, ConvOptions } from './ops.js';
export { grad } from './autodiff/grad.js';
export { VJP, unbroadcast } from './autodiff/vjp.js';
export { linear, silu, gelu, rmsNorm, layerNorm, logSoftmax, crossEntropy, dropout } from './nn/layers.js';
export type { CrossEntropyResult } from './nn/layers.js';
export { ctcLoss, ctcGreedy } from './nn/ctc.js';
export type { CtcResult } from './nn/ctc.js';
export { attention, causalMask, documentCausalMask, paddingMask } from './nn/attention.js';
export type { ScaledAttentionOptions } from './nn/attention.js';
export { initParams, declareParams } from './nn/params.js';
export type { ParamSpec, ParamInit, Params, ParamValues, InitOptions } from './nn/params.js';
export { ropeTables, applyRope } from './nn/rope.js';
export {
  multiHeadAttention, attentionParamSpecs, splitHeads, mergeHeads,
  mlp, mlpParamSpecs, geluTanh, norm, normParamSpecs,
  transformerBlock, transformerBlockParamSpecs,
} from './nn/blocks.js';
export type { KvCache, Rope, AttentionNames, AttentionConfig, AttentionInputs, MultiHeadAttentionOptions, MlpConfig, NormConfig, BlockNames, TransformerBlockConfig } from './nn/blocks.js';
export { adamw, globalNorm, ADAMW_DEFAULTS } from './optim/adamw.js';
export type { AdamWConfig, AdamWSlot, AdamWUpdate } from './optim/adamw.js';
export { buildTraining, packLayout, STEP_INPUT, LR_INPUT, ACC_SCALE_INPUT, LOSS_SCALE_INPUT, FINITE_OUTPUT, PARAMS_STATE, M_STATE, V_STATE, ACC_STATE } from './optim/train-step.js';
export type { StateSlot, TrainingGraphs, TrainingSpec, PackedLayout } from './optim/train-step.js';
export { toOnnx, reachable, OPSET } from './onnx/emit.js';
export type { EmitOptions, EmittedModel, IoSpec, ParamView } from './onnx/emit.js';
export { summariseOnnx } from './onnx/inspect.js';
export type { OnnxModelSummary, OnnxOperatorUse } from './onnx/inspect.js';
