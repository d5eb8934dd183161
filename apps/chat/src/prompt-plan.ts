/**
 * How a conversation becomes ONE prompt for the composed decoder (the decoder `herd export` writes:
 * the frozen core + the vision checkpoint's image cross-attention, the video model's own image
 * cross-attention and video cross-attention, and the speech splice) —
 * one implementation for the server's engine (`engine.ts`) and the page's in-browser engine (bundled
 * into /web/herd.js through `web/entry.ts`), so both lay out the same ids and the same per-row feeds.
 *
 * Every medium of the kept turns is in the prompt at once:
 * - each image → `<|image|>` at the start of its user turn (Llama 3.2 Vision); the vision part's
 *   image cross-attention sees every image's keys/values, and the vision mask (`imageIntervals`) lets
 *   each text span attend to the image(s) just before it — a later turn with no image of its own
 *   still sees the last one;
 * - each clip → one more `<|image|>` on its turn (after the turn's image, if any): the video model's
 *   OWN image layers (the image checkpoint it was trained on, `video.image.`) see its middle frame,
 *   and the video cross-attention is open on exactly the rows that attend that frame, on that clip's
 *   video tokens (the clips' tokens sit side by side, as the images' do). Images and clips are read
 *   by different image layers, so a turn about a picture is answered as the vision checkpoint alone
 *   answers it and a turn about a clip as the video model alone (`herd generate --image / --video`);
 * - a picture and a clip in ONE turn (`<|image|><|image|>`): the rows after them see the picture
 *   through the vision layers and the clip through the video model's layers; at a core layer both
 *   act at, the video model's layers act first, then the vision layer. Neither model was trained
 *   with the other's layers open on the same rows: a layout the decoder takes, not one they learnt;
 * - each utterance → spliced in its turn as `herd generate --audio` lays it out
 *   (`speechPromptLayout`): typed text, then `<|audio_start|>`, one placeholder per adapter frame,
 *   `<|audio_end|>`; when the turn has no typed text and no picture or clip, the ASR instruction
 *   follows (it is transcribed); with a picture or clip the utterance is the question about it.
 *   Utterance u's frame a is row u·adapterFrames + a of the fed frames.
 * A prompt with one medium is laid out exactly as the single-modality commands lay it out. The
 * models were trained with one clip or utterance per prompt; several are a layout the decoder takes,
 * not one they learnt.
 */
import { HerdError } from '@herd/core';
import { IMAGE_TOKEN_ID, type Llama3Tokenizer, type PrunedVocab } from '@herd/llama3';
import { ASR_INSTRUCTION, AUDIO_END, AUDIO_START, KEEP_TOKEN } from '@herd/speech';
import { crossAttentionMaskRows, imageIntervals } from '@herd/vision';

/** A turn as the layout sees it: its text and the media it carries. */
export interface PlanTurn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  readonly image?: boolean;
  readonly clip?: boolean;
  /** Adapter frames the turn's utterance takes (`audioTokens`), when it carries audio. */
  readonly audioTokens?: number;
}

/** One `<|image|>` of the prompt: which turn it belongs to and what the image layers see there. */
export interface ImageSlot {
  readonly turn: number;
  readonly kind: 'image' | 'clip';
  /** For a clip: which of the prompt's clips (its index in `clipTurns`). */
  readonly clip?: number;
}

export interface PromptPlan {
  /** Model ids (compact when the core has a pruned vocabulary); `<|image|>` is `imageId`, speech placeholders 0. */
  readonly ids: number[];
  /** The prompt's `<|image|>` tokens in order. */
  readonly slots: readonly ImageSlot[];
  /** The turns whose utterances are spliced, in prompt order; with any, `codes` holds per position its `audioIndex` code. */
  readonly audioTurns: readonly number[];
  readonly codes?: number[];
  /** The turns whose clips get the video cross-attention, in prompt order. */
  readonly clipTurns: readonly number[];
  /**
   * When the last turn is an utterance to transcribe (no typed text, no picture or clip: the ASR
   * instruction): its index in `audioTurns` and its adapter frames — the answer may be decoded jointly
   * with the CTC head (`CtcPrefixScorer`), as `herd generate --audio` does.
   */
  readonly transcribe?: { readonly utterance: number; readonly audioTokens: number };
}

export interface PlanOptions {
  /** The id `<|image|>` becomes (the vision model's); needed when a turn has an image or a clip. */
  readonly imageId?: number | undefined;
  /** Rows each utterance takes in the fed speech frames (the speech recipe's `adapterFrames`); needed when a turn has audio. */
  readonly adapterFrames?: number | undefined;
}

/** The prompt for these turns: ids (and the speech codes) exactly as both engines feed them. */
export function planPrompt(tok: Llama3Tokenizer, vocab: PrunedVocab | undefined, turns: readonly PlanTurn[], o: PlanOptions): PromptPlan {
  const clipTurns: number[] = [];
  const audioTurns: number[] = [];
  const slots: ImageSlot[] = [];
  const full: number[] = [];
  // Per position: KEEP_TOKEN for text, AUDIO_START / a frame / AUDIO_END for the utterance.
  const codes: number[] = [];
  let transcribe: PromptPlan['transcribe'];
  const push = (ids: readonly number[], code = KEEP_TOKEN): void => {
    full.push(...ids);
    for (const _ of ids) codes.push(code);
  };
  const text = (s: string): void => push(tok.encodeOrdinary(s));
  turns.forEach((t, i) => {
    // <|begin_of_text|> on the first turn, then <|start_header_id|>role<|end_header_id|>\n\n.
    push(tok.encodeChat([{ role: t.role, content: '' }], { addGenerationPrompt: false, bos: i === 0 }).slice(0, -1));
    const shown: ImageSlot[] = [];
    if (t.role === 'user' && t.image) shown.push({ turn: i, kind: 'image' });
    if (t.role === 'user' && t.clip === true) {
      shown.push({ turn: i, kind: 'clip', clip: clipTurns.length });
      clipTurns.push(i);
    }
    for (const s of shown) {
      slots.push(s);
      push([IMAGE_TOKEN_ID]);
    }
    const typed = t.text.trim();
    if (t.role !== 'user' || t.audioTokens === undefined) {
      if (typed) text(typed);
    } else {
      if (o.adapterFrames === undefined) throw new HerdError('invalid_argument', 'an utterance in the conversation, but speech: not loaded');
      if (t.audioTokens > o.adapterFrames) throw new HerdError('invalid_argument', `turn ${i}: an utterance of ${t.audioTokens} adapter frames, over the ${o.adapterFrames} the speech encoder gives`);
      const base = audioTurns.length * o.adapterFrames;
      audioTurns.push(i);
      // speechPromptLayout's turn: no space before the audio (a lone " " is not in the pruned core vocabulary).
      if (typed) text(typed);
      push([0], AUDIO_START);
      for (let a = 0; a < t.audioTokens; a++) push([0], base + a);
      push([0], AUDIO_END);
      if (!typed && shown.length === 0) {
        text(` ${ASR_INSTRUCTION}`);
        if (i === turns.length - 1) transcribe = { utterance: audioTurns.length - 1, audioTokens: t.audioTokens };
      }
    }
    // <|eot_id|>
    push(tok.encodeChat([{ role: t.role, content: '' }], { addGenerationPrompt: false, bos: false }).slice(-1));
  });
  // <|start_header_id|>assistant<|end_header_id|>\n\n
  push(tok.encodeChat([], { addGenerationPrompt: true, bos: false }));
  if (slots.length > 0 && o.imageId === undefined) throw new HerdError('invalid_argument', 'an image or clip in the conversation, but vision: not loaded');
  const ids = full.map((id, i) => {
    if (codes[i] !== KEEP_TOKEN) return 0; // a placeholder: its embedding is replaced by the splice
    if (id === IMAGE_TOKEN_ID) return o.imageId!;
    return vocab ? vocab.toCompact([id])[0]! : id;
  });
  return { ids, slots, audioTurns, clipTurns, ...(audioTurns.length > 0 ? { codes } : {}), ...(transcribe ? { transcribe } : {}) };
}


/** The slot shape of one set of image cross-attention layers (its recipe's maxTiles and tokensPerTile). */
export interface SlotShape {
  readonly maxTiles: number;
  readonly tokensPerTile: number;
}

/**
 * What the per-row feeds need to know about the model (the export's recipes give it). The decoder
 * has one set of image cross-attention layers per modality that reads pictures: the vision part's
 * (the prompt's images) and the video part's own (the clips' middle frames, `video.image.`).
 */
export interface RowLayout {
  /** The core's vocabulary size: ids at or past it are the adapters' learnable ids. */
  readonly vocab: number;
  readonly imageTokenId: number;
  /** The vision part's image layers; absent: no vision part (an image in the prompt is refused). */
  readonly image?: SlotShape;
  /** The video part's own image layers and its video tokens per clip; absent: no video part. */
  readonly clip?: SlotShape & { readonly videoTokens: number };
}

/** One set of image layers' per-call inputs for rows [start, start + count). */
export interface ImageLayerRows {
  /** [1, count]: id − vocab on this set's `<|image|>` tokens, −1 elsewhere. */
  readonly learnableIds: Int32Array;
  /** [1, 1, count, S]: S = this set's slots · maxTiles · tokensPerTile (1 and all false with none). */
  readonly xattnMask: Uint8Array;
  readonly imageTokens: number;
}

/** The composed decoder's per-call inputs for rows [start, start + count), as flat typed arrays. */
export interface DecoderRows {
  /** The vision part's image layers (the prompt's images), with `RowLayout.image`. */
  readonly image?: ImageLayerRows;
  /** The video part's own image layers (the clips' middle frames) and `videoMask` [1, 1, count, clips · videoTokens] (videoTokens with no clip): true on clip c's columns for the rows that attend its slot; with `RowLayout.clip`. */
  readonly clip?: ImageLayerRows & { readonly videoMask: Uint8Array };
  /** [1, count]: the speech splice's codes (KEEP_TOKEN on every row with no utterance). */
  readonly audioIndex: Int32Array;
}

/**
 * Rows [start, start + count) of the decoder inputs for a prompt laid out by `planPrompt` (rows past
 * it are generated tokens: text, under the last image's interval); `nTiles[j]`: real tiles of slot j's
 * image (a clip: of its middle frame). Every `<|image|>` opens its interval as in one image model
 * (`imageIntervals` over the whole prompt); each slot's columns are in its own set's mask — an image's
 * in the vision layers', a clip's in the video model's own — so a prompt with images alone or a clip
 * alone gets exactly the feeds that model alone gets, the other set idle.
 */
export function decoderRows(plan: PromptPlan, nTiles: readonly number[], l: RowLayout, start: number, count: number): DecoderRows {
  const ids = plan.ids;
  const intervals = imageIntervals(ids, l.imageTokenId);
  if (intervals.length !== plan.slots.length) throw new HerdError('invalid_argument', `decoderRows: ${intervals.length} <|image|> tokens in the ids, the plan has ${plan.slots.length} slots`);
  if (nTiles.length !== plan.slots.length) throw new HerdError('invalid_argument', `decoderRows: ${nTiles.length} tile counts for ${plan.slots.length} image slots`);
  if (!l.image && plan.slots.some((s) => s.kind === 'image')) throw new HerdError('invalid_argument', 'an image in the prompt, but the model has no vision part');
  if (!l.clip && plan.slots.some((s) => s.kind === 'clip')) throw new HerdError('invalid_argument', 'a clip in the prompt, but the model has no video part');
  const rowsOf = (kind: ImageSlot['kind'], shape: SlotShape): ImageLayerRows => {
    const js = plan.slots.flatMap((s, j) => (s.kind === kind ? [j] : []));
    const own = js.map((j) => intervals[j]!);
    const layout = { nTiles: js.map((j) => nTiles[j]!), maxTiles: shape.maxTiles, tokensPerTile: shape.tokensPerTile };
    const tokenAt = new Set(own.map(([s]) => s));
    return {
      learnableIds: Int32Array.from({ length: count }, (_, i) => (tokenAt.has(start + i) ? ids[start + i]! - l.vocab : -1)),
      xattnMask: js.length > 0 ? crossAttentionMaskRows(own, layout, start, count) : new Uint8Array(count),
      imageTokens: js.length > 0 ? js.length * shape.maxTiles * shape.tokensPerTile : 1,
    };
  };
  let clip: DecoderRows['clip'];
  if (l.clip) {
    const rows = rowsOf('clip', l.clip);
    const V = l.clip.videoTokens;
    const clips = plan.clipTurns.length;
    const W = Math.max(1, clips) * V;
    const S = rows.imageTokens;
    const per = l.clip.maxTiles * l.clip.tokensPerTile;
    const videoMask = new Uint8Array(count * W);
    // Open where the row attends clip c's middle frame (its slot c in this set), on that clip's tokens.
    for (let c = 0; c < clips; c++) for (let r = 0; r < count; r++) if (rows.xattnMask[r * S + c * per] === 1) videoMask.fill(1, r * W + c * V, r * W + (c + 1) * V);
    clip = { ...rows, videoMask };
  }
  return {
    ...(l.image ? { image: rowsOf('image', l.image) } : {}),
    ...(clip ? { clip } : {}),
    audioIndex: Int32Array.from({ length: count }, (_, i) => plan.codes?.[start + i] ?? KEEP_TOKEN),
  };
}
