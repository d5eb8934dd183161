/**
 * Reads an emitted ONNX model back to say what it needs from a runtime: the operator set it imports
 * and each operator it uses (per domain), so an export can be checked against what a target runtime
 * (e.g. onnxruntime-web's WASM or WebGPU execution provider) implements before anyone loads it.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface OnnxOperatorUse {
  /** '' is the standard ai.onnx domain. */
  readonly domain: string;
  readonly opType: string;
  readonly count: number;
}

export interface OnnxModelSummary {
  readonly opsetImports: readonly { readonly domain: string; readonly version: number }[];
  /** Sorted by domain, then operator name. */
  readonly operators: readonly OnnxOperatorUse[];
  readonly nodes: number;
  readonly initializers: number;
  /** Initializers whose bytes live in another file (ONNX external data). */
  readonly externalInitializers: number;
}

export function summariseOnnx(bytes: Uint8Array): OnnxModelSummary {
  const model = onnx.ModelProto.decode(bytes);
  const counts = new Map<string, OnnxOperatorUse>();
  const nodes = model.graph?.node ?? [];
  for (const n of nodes) {
    const domain = n.domain ?? '';
    const key = `${domain}\u0000${n.opType}`;
    const seen = counts.get(key);
    counts.set(key, { domain, opType: n.opType ?? '', count: (seen?.count ?? 0) + 1 });
  }
  const inits = model.graph?.initializer ?? [];
  return {
    opsetImports: (model.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: Number(o.version ?? 0) })),
    operators: [...counts.values()].sort((a, b) => a.domain.localeCompare(b.domain) || a.opType.localeCompare(b.opType)),
    nodes: nodes.length,
    initializers: inits.length,
    externalInitializers: inits.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).length,
  };
}
