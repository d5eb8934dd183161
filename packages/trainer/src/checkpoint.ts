import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, type SafetensorsDtype, openSafetensors, writeSafetensors } from '@herd/core';
import { type DType } from '@herd/graph';
import { type HostTensor } from '@herd/runtime';

/** What a checkpoint stores besides tensors; everything needed to continue exactly. */
export interface CheckpointMeta {
  readonly step: number;
  /** Batches consumed so far (the data position). */
  readonly dataPosition: number;
  readonly rngState: readonly number[];
  /** A streaming data source's own position (e.g. @herd/data's BatchPosition). */
  readonly dataState?: unknown;
  /** Dynamic loss-scaler state (scale, good steps since the last change), for loss-scaled runs. */
  readonly lossScaler?: { readonly scale: number; readonly goodSteps: number };
  /** Free-form recipe information (config, schedule), echoed back on load. */
  readonly info?: Readonly<Record<string, unknown>>;
}

const TO_ST: Record<DType, SafetensorsDtype> = { f32: 'F32', f16: 'F16', f64: 'F64', i32: 'I32', i64: 'I64', bool: 'BOOL', u8: 'U8' };
const FROM_ST: Partial<Record<SafetensorsDtype, DType>> = { F32: 'f32', F16: 'f16', F64: 'f64', I32: 'i32', I64: 'i64', BOOL: 'bool', U8: 'u8' };

export const HERD_META_KEY = 'herd';

/** Writes tensors + metadata as one safetensors file, atomically. */
export async function saveCheckpoint(path: string, tensors: Readonly<Record<string, HostTensor>>, meta: CheckpointMeta): Promise<void> {
  const out = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { dtype: TO_ST[t.dtype], shape: t.shape, data: t.data }]));
  await writeSafetensors(path, out, { [HERD_META_KEY]: JSON.stringify(meta) });
}

export interface LoadedCheckpoint {
  readonly tensors: Record<string, HostTensor>;
  readonly meta: CheckpointMeta;
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const st = openSafetensors(path);
  const raw = st.metadata[HERD_META_KEY];
  if (!raw) throw new HerdError('checkpoint_mismatch', `${path}: not a herd checkpoint (no '${HERD_META_KEY}' metadata); load plain weights with the model's loader`);
  const meta = JSON.parse(raw) as CheckpointMeta;
  const tensors: Record<string, HostTensor> = {};
  for (const name of st.names()) {
    const t = st.read(name);
    const dtype = FROM_ST[t.dtype];
    if (!dtype) throw new HerdError('checkpoint_mismatch', `${path}: tensor '${name}' has unsupported dtype ${t.dtype}`);
    tensors[name] = { dtype, shape: t.shape, data: t.data as HostTensor['data'] };
  }
  return { tensors, meta };
}

/** Name of the checkpoint written after `step` updates. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}.safetensors`;
}

/** The newest checkpoint in a folder, if any. */
export function latestCheckpoint(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const names = readdirSync(dir).filter((f) => /^step-\d{8}\.safetensors$/.test(f)).sort();
  const last = names[names.length - 1];
  return last ? join(dir, last) : undefined;
}
