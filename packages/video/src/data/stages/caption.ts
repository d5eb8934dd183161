/**
 * The text half of video curation (Llama 3 paper §7.1.2: "we first remove low-quality captions
 * using heuristic rules such as minimum length or fixing capitalization", then non-English ones):
 * the same stages as image curation, not copies of them — `textSafety` and `textHeuristics`
 * (whitespace, minimum length, capitalisation fixed in place) from `@herd/data`, `captionQuality`
 * and `languageId` (fastText lid.176) from `@herd/vision`. They know nothing of images; this file is
 * the one place video imports them from, so moving them into `@herd/data` is a one-line change here.
 */
import type { OptionRules } from '@herd/core';
import { CAPTION_QUALITY_RULES, LANGUAGE_ID_RULES, TEXT_HEURISTICS_RULES, TEXT_SAFETY_RULES, textHeuristics, textSafety, type Stage, type TextHeuristicsOptions, type TextSafetyOptions, captionQuality, languageId, type CaptionQualityOptions, type LanguageIdOptions } from '@herd/data';

export interface CaptionStagesConfig {
  textSafety?: TextSafetyOptions | false;
  /** Whitespace clean-up, minimum length and capitalisation fix (the caption file is rewritten). */
  captionText?: TextHeuristicsOptions | false;
  caption?: CaptionQualityOptions | false;
  language?: LanguageIdOptions | false;
}

/** What a config file may set for the caption stages (`checkOptions`). */
export const CAPTION_STAGES_RULES = {
  textSafety: [false, { options: TEXT_SAFETY_RULES }],
  captionText: [false, { options: TEXT_HEURISTICS_RULES }],
  caption: [false, { options: CAPTION_QUALITY_RULES }],
  language: [false, { options: LANGUAGE_ID_RULES }],
} satisfies OptionRules<CaptionStagesConfig>;

/** Safety → clean-up and capitalisation → caption heuristics → language ID, each skippable with `false`. */
export function captionStages(config: CaptionStagesConfig = {}): Stage[] {
  const stages: Stage[] = [];
  if (config.textSafety !== false) stages.push(textSafety(config.textSafety ?? {}));
  if (config.captionText !== false) stages.push(textHeuristics({ name: 'caption_text', minChars: 8, minWords: 2, fixCapitalisation: true, ...(config.captionText ?? {}) }));
  if (config.caption !== false) stages.push(captionQuality(config.caption ?? {}));
  if (config.language !== false) stages.push(languageId(config.language ?? {}));
  return stages;
}
