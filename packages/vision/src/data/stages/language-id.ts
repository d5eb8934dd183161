/**
 * Caption language identification (Llama 3 paper §7.1.1: non-English captions are dropped) with
 * fastText's lid.176 model, which `fasttext.wasm.js` ships inside its npm package: no download, no
 * network. The model is loaded once per stage instance (once per worker thread).
 * Scores: `meta.curation.language = {lang, p}`.
 */
import { HerdError } from '@herd/core';
import { drop, keep, type SampleStage } from '@herd/data';
import { captionOf, withScores } from './meta.js';

export interface LanguageIdOptions {
  name?: string;
  ext?: string;
  /** ISO 639-1 codes to keep (default ['en']). */
  keep?: readonly string[];
  /** The kept language must also have at least this probability (default 0: top-1 decides). */
  minProbability?: number;
}

export interface LanguageGuess {
  lang: string;
  p: number;
}

type LidModel = { load(): Promise<unknown>; identify(text: string): Promise<{ alpha2: string | null; alpha3: string; possibility: number }> };
let shared: Promise<LidModel> | undefined;

/** The lid.176 model, loaded once per thread. */
export function lidModel(): Promise<LidModel> {
  shared ??= (async () => {
    try {
      const { getLIDModel } = (await import('fasttext.wasm.js')) as unknown as { getLIDModel(): Promise<LidModel> };
      const model = await getLIDModel();
      await model.load();
      return model;
    } catch (e) {
      shared = undefined;
      throw new HerdError('tool_missing', `cannot load the fastText language-ID model from fasttext.wasm.js: ${(e as Error).message}; reinstall @herd/vision's dependencies`, { cause: e });
    }
  })();
  return shared;
}

/** fastText reads one line: newlines are folded to spaces first. */
export async function identifyLanguage(text: string): Promise<LanguageGuess> {
  const model = await lidModel();
  const r = await model.identify(text.replace(/\s+/gu, ' ').trim());
  return { lang: r.alpha2 ?? r.alpha3, p: Number(r.possibility.toFixed(4)) };
}

export function languageId(options: LanguageIdOptions = {}): SampleStage {
  const o = { ext: options.ext ?? 'txt', keep: [...(options.keep ?? ['en'])], minProbability: options.minProbability ?? 0 };
  const name = options.name ?? 'language';
  const code = o.keep.length === 1 && o.keep[0] === 'en' ? 'non_english_caption' : 'unwanted_language';
  return {
    kind: 'sample',
    name,
    version: `lid.176;${JSON.stringify(o)}`,
    async process(sample) {
      const caption = captionOf(sample, o.ext);
      if ('reason' in caption) return drop(caption.reason);
      const guess = await identifyLanguage(caption.text);
      if (!o.keep.includes(guess.lang)) return drop(`${code}: ${guess.lang} p=${guess.p}`);
      if (guess.p < o.minProbability) return drop(`uncertain_language: ${guess.lang} p=${guess.p} < ${o.minProbability}`);
      return keep(withScores(sample, name, { ...guess }));
    },
  };
}
