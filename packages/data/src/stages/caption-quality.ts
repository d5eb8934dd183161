/**
 * Quality filter, text half (Llama 3 paper §7.1.1 "Quality filtering"; SPEC "Data curation"), shared
 * by image captions and speech transcripts. Control characters, bidi tricks and invalid UTF-8 are the
 * `textSafety` stage's job (run it first); this stage judges whether a safe text is a caption or a
 * transcript: length, word count, repeated-token spam, URLs and markup.
 * Scores: `meta.curation.<name> = {chars, words, topTokenShare, urls, markup}`.
 */
import type { OptionRules } from '@herd/core';
import { captionOf, withScores } from './scores.js';
import { drop, keep, type SampleStage } from './stage.js';

export interface CaptionQualityOptions {
  name?: string;
  ext?: string;
  /** What the text is, for the reasons: `caption` (default: `caption_too_short`), `transcript` (`transcript_too_short`). */
  subject?: string;
  minChars?: number;
  maxChars?: number;
  minWords?: number;
  maxWords?: number;
  /** Largest share of the words one word may take (spam: "cat cat cat cat"); checked from 4 words on. */
  maxTopTokenShare?: number;
  /** Most URLs / e-mail addresses allowed (default 0: a caption is not a link list). */
  maxUrls?: number;
  /** Most markup fragments (HTML tags, entities, `[url=`, `{{`) allowed (default 0). */
  maxMarkup?: number;
}

/** What a config file may set (`checkOptions`). */
export const CAPTION_QUALITY_RULES = { name: 'string', ext: 'string', subject: 'string', minChars: 'int', maxChars: 'int', minWords: 'int', maxWords: 'int', maxTopTokenShare: 'number', maxUrls: 'int', maxMarkup: 'int' } satisfies OptionRules<CaptionQualityOptions>;

const URL_RE = /\b(?:https?:\/\/|ftp:\/\/|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b/giu;
const MARKUP_RE = /<\/?[a-z][^>]*>|&(?:[a-z]+|#\d+|#x[0-9a-f]+);|\[\/?(?:url|img|b|i)\b[^\]]*\]|\{\{|\}\}/giu;

export interface CaptionScores {
  chars: number;
  words: number;
  topTokenShare: number;
  urls: number;
  markup: number;
}

export function captionScores(text: string): CaptionScores {
  const clean = text.replace(/\s+/gu, ' ').trim();
  const words = clean === '' ? [] : clean.toLowerCase().split(' ');
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const top = Math.max(0, ...counts.values());
  return {
    chars: [...clean].length,
    words: words.length,
    topTokenShare: words.length === 0 ? 0 : top / words.length,
    urls: (clean.match(URL_RE) ?? []).length,
    markup: (clean.match(MARKUP_RE) ?? []).length,
  };
}

export function captionQuality(options: CaptionQualityOptions = {}): SampleStage {
  const o = {
    ext: options.ext ?? 'txt',
    minChars: options.minChars ?? 8,
    maxChars: options.maxChars ?? 1000,
    minWords: options.minWords ?? 2,
    maxWords: options.maxWords ?? 200,
    maxTopTokenShare: options.maxTopTokenShare ?? 0.5,
    maxUrls: options.maxUrls ?? 0,
    maxMarkup: options.maxMarkup ?? 0,
  };
  const name = options.name ?? `${options.subject ?? 'caption'}_quality`;
  const subj = options.subject ?? 'caption';
  return {
    kind: 'sample',
    name,
    version: JSON.stringify({ ...o, ...(subj !== 'caption' ? { subj } : {}) }),
    process(sample) {
      const caption = captionOf(sample, o.ext, subj);
      if ('reason' in caption) return drop(caption.reason);
      const s = captionScores(caption.text);
      if (s.chars < o.minChars) return drop(`${subj}_too_short: ${s.chars} < ${o.minChars} characters`);
      if (s.chars > o.maxChars) return drop(`${subj}_too_long: ${s.chars} > ${o.maxChars} characters`);
      if (s.words < o.minWords) return drop(`too_few_words: ${s.words} < ${o.minWords}`);
      if (s.words > o.maxWords) return drop(`too_many_words: ${s.words} > ${o.maxWords}`);
      if (s.words >= 4 && s.topTokenShare > o.maxTopTokenShare) {
        return drop(`repeated_tokens: one word is ${(100 * s.topTokenShare).toFixed(0)}% of ${s.words} words (limit ${(100 * o.maxTopTokenShare).toFixed(0)}%)`);
      }
      if (s.urls > o.maxUrls) return drop(`url_in_${subj}: ${s.urls} URL(s)`);
      if (s.markup > o.maxMarkup) return drop(`markup_in_${subj}: ${s.markup} fragment(s)`);
      return keep(withScores(sample, name, { ...s }));
    },
  };
}
