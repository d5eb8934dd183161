/**
 * Language identification of a caption or transcript (Llama 3 paper §7.1.1: non-English captions
 * are dropped) with fastText's lid.176 model, which `fasttext.wasm.js` ships inside its npm package:
 * no download, no network. The model is loaded once per thread. Shared by image and speech curation.
 * With `declaredField`, a sample that declares its language in meta (speech: the spoken language)
 * must also have a text in that language: `language_mismatch: text fr, declared en`.
 * Scores: `meta.curation.<name> = {lang, p}`.
 */
import { HerdError } from '@herd/core';
import type { OptionRules } from '@herd/core';
import { captionOf, withScores } from './scores.js';
import { drop, keep, type SampleStage } from './stage.js';

export interface LanguageIdOptions {
  name?: string;
  ext?: string;
  /** ISO 639-1 codes to keep (default ['en']); `'any'`: every language (only `declaredField` is checked). */
  keep?: readonly string[] | 'any';
  /** The kept language must also have at least this probability (default 0: top-1 decides). */
  minProbability?: number;
  /** What the text is, for the reasons (default `caption`: `non_english_caption`, `missing_caption`). */
  subject?: string;
  /** A meta field naming the language the text must be in, when a sample has it (e.g. `language`). */
  declaredField?: string;
  /** A text is only called another language than declared when lid.176 is at least this sure (default 0.5). */
  minMismatchProbability?: number;
}

/** What a config file may set (`checkOptions`). */
export const LANGUAGE_ID_RULES = { name: 'string', ext: 'string', keep: ['string[]', { oneOf: ['any'] }], minProbability: 'number', subject: 'string', declaredField: 'string', minMismatchProbability: 'number' } satisfies OptionRules<LanguageIdOptions>;

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
      throw new HerdError('tool_missing', `cannot load the fastText language-ID model from fasttext.wasm.js: ${(e as Error).message}; reinstall @herd/data's dependencies`, { cause: e });
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
  const o = {
    ext: options.ext ?? 'txt',
    keep: options.keep === 'any' ? ('any' as const) : [...(options.keep ?? ['en'])],
    minProbability: options.minProbability ?? 0,
    ...(options.subject !== undefined && options.subject !== 'caption' ? { subject: options.subject } : {}),
    ...(options.declaredField !== undefined ? { declaredField: options.declaredField, minMismatchProbability: options.minMismatchProbability ?? 0.5 } : {}),
  };
  const subject = options.subject ?? 'caption';
  const name = options.name ?? 'language';
  const code = o.keep !== 'any' && o.keep.length === 1 && o.keep[0] === 'en' ? `non_english_${subject}` : 'unwanted_language';
  return {
    kind: 'sample',
    name,
    version: `lid.176;${JSON.stringify(o)}`,
    async process(sample) {
      const caption = captionOf(sample, o.ext, subject);
      if ('reason' in caption) return drop(caption.reason);
      const guess = await identifyLanguage(caption.text);
      const declared = o.declaredField === undefined ? undefined : sample.meta[o.declaredField];
      if (typeof declared === 'string' && declared !== guess.lang && guess.p >= (o.minMismatchProbability ?? 0)) return drop(`language_mismatch: ${subject} ${guess.lang} p=${guess.p}, declared ${declared}`);
      if (o.keep !== 'any' && !o.keep.includes(guess.lang)) return drop(`${code}: ${guess.lang} p=${guess.p}`);
      if (guess.p < o.minProbability) return drop(`uncertain_language: ${guess.lang} p=${guess.p} < ${o.minProbability}`);
      // An unsure guess against the declared language is kept, with both on record.
      return keep(withScores(sample, name, { ...guess, ...(typeof declared === 'string' && declared !== guess.lang ? { declared } : {}) }));
    },
  };
}
