import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HerdError, type SafetensorsSource, isDType, openSafetensors, parseJsonText, writeSafetensors } from '@herd/core';
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

export const HERD_META_KEY = 'herd';

/** Writes tensors + metadata as one safetensors file, atomically. */
export async function saveCheckpoint(path: string, tensors: Readonly<Record<string, HostTensor>>, meta: CheckpointMeta): Promise<void> {
  await writeSafetensors(path, tensors, { [HERD_META_KEY]: JSON.stringify(meta) });
}

export interface LoadedCheckpoint {
  readonly tensors: Record<string, HostTensor>;
  readonly meta: CheckpointMeta;
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const st = openSafetensors(path);
  const meta = checkpointMeta(st, path);
  const tensors: Record<string, HostTensor> = {};
  for (const name of st.names()) {
    const t = st.read(name);
    if (!isDType(t.dtype)) throw new HerdError('checkpoint_mismatch', `${path}: tensor '${name}' is ${t.dtype}, which a training checkpoint never holds`);
    tensors[name] = t as HostTensor;
  }
  return { tensors, meta };
}

/** A checkpoint's metadata, checked; the tensors stay in the file (read the ones needed by name from `st`). */
export function checkpointMeta(st: SafetensorsSource, path: string): CheckpointMeta {
  const raw = st.metadata[HERD_META_KEY];
  if (!raw) throw new HerdError('checkpoint_mismatch', `${path}: not a herd checkpoint (no '${HERD_META_KEY}' metadata); load plain weights with the model's loader`);
  return parseJsonText(`${path} (its '${HERD_META_KEY}' metadata)`, new TextEncoder().encode(raw), { what: 'checkpoint', code: 'corrupt_data' }) as CheckpointMeta;
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
