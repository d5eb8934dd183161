/** How model code finds its parameters: by checkpoint name. */
import { HerdError } from '@herd/core';
import { type Graph, type Tensor } from '@herd/graph';
import { type SpeechParamSpec } from './params.js';

export type Params = (name: string) => Tensor;

/** Declares `specs` in a graph; values and trainability come from `define`. */
export function declareSpeechParams(g: Graph, specs: readonly SpeechParamSpec[], define: (name: string, shape: readonly number[]) => Tensor): Params {
  const map = new Map<string, Tensor>();
  for (const s of specs) map.set(s.name, define(s.name, s.shape));
  return (name) => {
    const t = map.get(name);
    if (!t) throw new HerdError('checkpoint_mismatch', `speech: no parameter '${name}' (have ${map.size}: ${[...map.keys()].slice(0, 4).join(', ')}, …)`);
    return t;
  };
}
