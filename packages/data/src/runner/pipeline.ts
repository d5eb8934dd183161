import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HerdError, ProblemList } from '@herd/core';
import type { GlobalStage, SampleStage, Stage } from '../stages/stage.js';

/**
 * Where worker threads find the stages: a module (path or file: URL) and the name of its export,
 * either an array of stages or a function `(options) => stages` (sync or async, e.g. to load a
 * model once per worker). `options` must survive structured cloning.
 */
export interface PipelineRef {
  module: string;
  export?: string;
  options?: unknown;
}

export type PipelineFactory = (options: unknown) => readonly Stage[] | Promise<readonly Stage[]>;

/** Stage name reserved for samples the reader could not read. */
export const READ_STAGE = 'read';

export function moduleUrl(module: string): string {
  if (module.startsWith('file:')) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
}

export async function loadPipeline(ref: PipelineRef): Promise<readonly Stage[]> {
  const url = moduleUrl(ref.module);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new HerdError('invalid_argument', `cannot import pipeline module ${ref.module}: ${(e as Error).message}`, { cause: e });
  }
  const name = ref.export ?? 'default';
  const value = mod[name];
  if (value === undefined) {
    throw new HerdError('invalid_argument', `pipeline module ${ref.module} has no export "${name}" (it exports: ${Object.keys(mod).join(', ') || 'nothing'})`);
  }
  const stages: unknown = typeof value === 'function' ? await (value as PipelineFactory)(ref.options) : value;
  checkStages(stages, `pipeline ${ref.module}#${name}`);
  return stages;
}

/** Checks a stage list, reporting every problem at once. */
export function checkStages(stages: unknown, where: string): asserts stages is readonly Stage[] {
  if (!Array.isArray(stages)) throw new HerdError('invalid_argument', `${where}: expected an array of stages, got ${typeof stages}`);
  const problems = new ProblemList();
  const names = new Set<string>();
  stages.forEach((s: Partial<SampleStage> & Partial<Omit<GlobalStage, 'kind'>>, i) => {
    const label = `stage ${i}${typeof s?.name === 'string' ? ` "${s.name}"` : ''}`;
    if (typeof s !== 'object' || s === null) return problems.add(`${label}: expected an object`);
    if (typeof s.name !== 'string' || s.name === '') problems.add(`${label}: name must be a non-empty string`);
    else if (s.name === READ_STAGE) problems.add(`${label}: the name "${READ_STAGE}" is reserved for unreadable samples`);
    else if (names.has(s.name)) problems.add(`${label}: name used twice`);
    else names.add(s.name);
    const kind: unknown = s.kind;
    if (kind === 'sample') {
      if (typeof s.process !== 'function') problems.add(`${label}: a sample stage needs process(sample, ctx)`);
    } else if (kind === 'global') {
      if (typeof s.decide !== 'function') problems.add(`${label}: a global stage needs decide(features)`);
      if (s.prepare !== undefined && typeof s.prepare !== 'function') problems.add(`${label}: prepare must be a function`);
    } else {
      problems.add(`${label}: kind must be "sample" or "global", got ${JSON.stringify(kind)}`);
    }
  });
  problems.throwIfAny('invalid_argument', `${where}: invalid pipeline`);
}

/**
 * One pass over the shards: drop what the previous global stage decided, run consecutive sample
 * stages, then extract the next global stage's features.
 */
export interface Pass {
  index: number;
  applies?: GlobalStage;
  stages: SampleStage[];
  prepares?: GlobalStage;
}

export function planPasses(stages: readonly Stage[]): Pass[] {
  const passes: Pass[] = [{ index: 0, stages: [] }];
  for (const stage of stages) {
    const pass = passes[passes.length - 1] as Pass;
    if (stage.kind === 'sample') pass.stages.push(stage);
    else {
      pass.prepares = stage;
      passes.push({ index: passes.length, applies: stage, stages: [] });
    }
  }
  return passes;
}
