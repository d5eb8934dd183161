import type { OptionRules } from '@herd/core';
import type { SampleStage } from './stage.js';

export interface TextHeuristicsOptions {
  name?: string;
  /** Which file holds the text (default `txt`). */
  ext?: string;
  /** Fewest characters after whitespace clean-up (default 1). */
  minChars?: number;
  /** Most characters (default: no limit). */
  maxChars?: number;
  /** Fewest words (default 1). */
  minWords?: number;
  /** Sentence-case text: lower-case text written all in capitals, capitalise each sentence (default true). */
  fixCapitalisation?: boolean;
}

/** What a config file may set (`checkOptions`). */
export const TEXT_HEURISTICS_RULES = { name: 'string', ext: 'string', minChars: 'int', maxChars: 'int', minWords: 'int', fixCapitalisation: 'boolean' } satisfies OptionRules<TextHeuristicsOptions>;

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Upper-cases the first letter of the text and of each sentence; ALL-CAPS text is lower-cased first. */
export function fixCapitalisation(text: string): string {
  const letters = text.replace(/[^\p{L}]/gu, '');
  const shouting = letters.length >= 4 && letters === letters.toUpperCase() && letters !== letters.toLowerCase();
  const base = shouting ? text.toLowerCase() : text;
  return base.replace(/(^|[.!?]\s+)(\p{Ll})/gu, (_m, lead: string, ch: string) => lead + ch.toUpperCase());
}

/**
 * Cleans and checks a text file: valid UTF-8, whitespace collapsed, length and word-count bounds,
 * capitalisation fixed. The cleaned text replaces the file. Drop reasons: `missing_text`,
 * `invalid_utf8`, `text_too_short: n < min`, `text_too_long: n > max`, `too_few_words: n < min`.
 */
export function textHeuristics(options: TextHeuristicsOptions = {}): SampleStage {
  const ext = options.ext ?? 'txt';
  const minChars = options.minChars ?? 1;
  const minWords = options.minWords ?? 1;
  const maxChars = options.maxChars ?? Infinity;
  const fixCaps = options.fixCapitalisation ?? true;
  return {
    kind: 'sample',
    name: options.name ?? 'text_heuristics',
    version: JSON.stringify([ext, minChars, minWords, maxChars, fixCaps]),
    process(sample) {
      const bytes = sample.files[ext];
      if (bytes === undefined) return { keep: false, reason: `missing_text: no .${ext} file` };
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch {
        return { keep: false, reason: 'invalid_utf8' };
      }
      text = text.replace(/\s+/gu, ' ').trim();
      const chars = [...text].length;
      if (chars < minChars) return { keep: false, reason: `text_too_short: ${chars} < ${minChars}` };
      if (chars > maxChars) return { keep: false, reason: `text_too_long: ${chars} > ${maxChars}` };
      const words = text === '' ? 0 : text.split(' ').length;
      if (words < minWords) return { keep: false, reason: `too_few_words: ${words} < ${minWords}` };
      if (fixCaps) text = fixCapitalisation(text);
      return { keep: true, sample: { ...sample, files: { ...sample.files, [ext]: encoder.encode(text) } } };
    },
  };
}
