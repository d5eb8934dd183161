/**
 * How a conversation becomes a prompt — one implementation for the server's engine (`engine.ts`) and
 * the page's in-browser engine (bundled into /web/herd.js through `web/entry.ts`), so both lay out
 * the same ids for the same turns.
 *
 * Which model part answers is decided by the media of the conversation:
 * - audio on the current user turn → speech: earlier turns as text, the utterance laid out as
 *   `herd generate --audio` lays it out (`speechPromptLayout`: typed text before the audio; no text →
 *   the ASR instruction after it);
 * - else, the latest media in the window is a clip → video, with that clip as the one `<|image|>`
 *   (as `herd generate --video`); other turns as text;
 * - else vision (images on the kept turns) when loaded, or the core alone.
 */
import { HerdError } from '@herd/core';
import { type ChatMessage, IMAGE_TOKEN_ID, type Llama3Tokenizer, type PrunedVocab } from '@herd/llama3';
import { ASR_INSTRUCTION, KEEP_TOKEN, speechPromptLayout } from '@herd/speech';

/** A turn as the layout sees it: its text and which media it carries (at most one). */
export interface PlanTurn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  readonly media?: 'image' | 'audio' | 'clip' | undefined;
}

export type AnswerKind = 'speech' | 'video' | 'vision' | 'text';

/** Which part answers these turns (see the file comment). */
export function answerKind(turns: readonly PlanTurn[], visionLoaded: boolean): AnswerKind {
  if (turns[turns.length - 1]?.media === 'audio') return 'speech';
  const latest = [...turns].reverse().find((t) => t.media !== undefined);
  if (latest?.media === 'clip') return 'video';
  return visionLoaded ? 'vision' : 'text';
}

export interface PromptPlan {
  readonly kind: AnswerKind;
  /** Model ids (compact when the core has a pruned vocabulary; speech placeholders are 0). */
  readonly ids: number[];
  /** Speech answers: per position the `audioIndex` code (adapter frame ≥ 0, AUDIO_START / AUDIO_END, KEEP_TOKEN). */
  readonly codes?: number[];
}

export interface PlanOptions {
  readonly visionLoaded: boolean;
  /** The id `<|image|>` becomes: the vision model's for images, the video model's image model's for a clip. */
  readonly imageId?: number | undefined;
  readonly videoImageId?: number | undefined;
  /** Speech answers: adapter frames the current turn's utterance takes (`audioTokens`). */
  readonly audioTokens?: number | undefined;
}

/** The prompt for these turns: ids (and the speech codes) exactly as the server's engine feeds them. */
export function planPrompt(tok: Llama3Tokenizer, vocab: PrunedVocab | undefined, turns: readonly PlanTurn[], o: PlanOptions): PromptPlan {
  const kind = answerKind(turns, o.visionLoaded);
  const compact = (full: readonly number[]): number[] => (vocab ? Array.from(vocab.toCompact(full)) : [...full]);
  if (kind === 'speech') {
    if (o.audioTokens === undefined) throw new HerdError('invalid_argument', 'a spoken turn, but speech: not loaded (no adapter frame count)');
    const last = turns[turns.length - 1]!;
    const typed = last.text.trim();
    const layout = speechPromptLayout(tok, { vocab }, typed ? { before: typed, after: '' } : { before: '', after: ASR_INSTRUCTION }, o.audioTokens);
    const history = turns.slice(0, -1);
    if (history.length === 0) return { kind, ...layout };
    // The history's own <|begin_of_text|> starts the prompt; the layout's is dropped.
    const before = compact(tok.encodeChat(history.map((t) => ({ role: t.role, content: t.text })), { addGenerationPrompt: false }));
    return { kind, ids: [...before, ...layout.ids.slice(1)], codes: [...before.map(() => KEEP_TOKEN), ...layout.codes.slice(1)] };
  }
  // A video answer sees the latest clip as its one <|image|>; an image answer every kept image.
  const clipTurn = kind === 'video' ? turns.findLastIndex((t) => t.media === 'clip') : -1;
  const shows = (t: PlanTurn, i: number): boolean => (kind === 'video' ? i === clipTurn : kind === 'vision' && t.media === 'image');
  const messages: ChatMessage[] = turns.map((t, i) => ({ role: t.role, content: shows(t, i) ? [{ type: 'image' }, { type: 'text', text: t.text }] : t.text }));
  const imageId = kind === 'video' ? o.videoImageId : o.imageId;
  const ids = tok.encodeChat(messages, { addGenerationPrompt: true }).map((id) => {
    if (id !== IMAGE_TOKEN_ID) return vocab ? vocab.toCompact([id])[0]! : id;
    if (imageId === undefined) throw new HerdError('invalid_argument', 'an image in the conversation, but vision: not loaded');
    return imageId;
  });
  return { kind, ids };
}
