/**
 * What the page's in-browser engine takes from herd, bundled for the browser by `web-bundle.ts`
 * (esbuild, at server start): the Llama 3 tokenizer (byte-level BPE, chat format, pruned
 * vocabulary) and the image tiling (canvas choice, Pillow-exact resize, normalisation) — herd's own
 * code, not ports. Node tests import this file directly.
 */
import { IMAGE_TOKEN_ID, Llama3Tokenizer, PrunedVocab, type ChatMessage } from '@herd/llama3';
import { tileImage as herdTileImage } from '@herd/vision';

export { IMAGE_TOKEN_ID };

/** An export's tokenizer.json (format herd.llama3-tokenizer). */
interface TokenizerJson {
  readonly format: string;
  readonly bpe: readonly string[];
  readonly pruned?: { readonly ids: readonly number[]; readonly unknownId: number };
}

/** The tokenizer of an export: herd's `Llama3Tokenizer` and `PrunedVocab` built from its tokenizer.json. */
export class WebTokenizer {
  private readonly tok: Llama3Tokenizer;
  private readonly vocab: PrunedVocab | undefined;

  constructor(json: TokenizerJson) {
    if (json.format !== 'herd.llama3-tokenizer') throw new Error(`tokenizer.json: format ${JSON.stringify(json.format)}, expected herd.llama3-tokenizer`);
    this.tok = Llama3Tokenizer.fromByteLevelVocab(json.bpe);
    const p = json.pruned;
    this.vocab = p ? PrunedVocab.fromJSON({ format: 'herd.pruned-vocab', version: 1, tokenizer: 'llama3', fullIdLimit: this.tok.numIds, unknownId: p.unknownId, ids: p.ids }) : undefined;
  }

  encodeOrdinary(text: string): number[] {
    return this.tok.encodeOrdinary(text);
  }

  /** The Llama 3 chat format (full ids; `<|image|>` for image parts). */
  encodeChat(messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
    return this.tok.encodeChat(messages, { addGenerationPrompt });
  }

  toModel(id: number): number {
    return this.vocab ? this.vocab.toCompact([id])[0]! : id;
  }

  toFull(id: number): number {
    return this.vocab ? this.vocab.toFull([id])[0]! : id;
  }

  /** Streaming text of model ids: never half a character. */
  streamDecoder(): { push(modelId: number): string; flush(): string } {
    const s = this.tok.streamDecoder();
    return { push: (id) => s.push([this.toFull(id)]), flush: () => s.flush() };
  }
}

/** A manifest's vision preprocessing recipe. */
interface VisionPreprocess {
  readonly tileSize: number;
  readonly supportedAspectRatios: readonly (readonly [number, number])[];
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
}

/** Tiles an RGB image as the export's vision recipe says (herd's `tileImage`); `tileMask` is the real-tile mask. */
export function tileImage(img: { data: Uint8Array; width: number; height: number }, pre: VisionPreprocess, maxTiles: number) {
  const t = herdTileImage(img, { tileSize: pre.tileSize, maxTiles, supportedAspectRatios: pre.supportedAspectRatios, imageMean: pre.imageMean, imageStd: pre.imageStd });
  return { ...t, tileMask: t.aspectRatioMask };
}

/** RGBA (ImageData, not premultiplied) → RGB, alpha flattened onto white as the server's decoder does (the server's is sharp's, in @herd/media). */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): { data: Uint8Array; width: number; height: number } {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height * 4; i += 4, j += 3) {
    const a = rgba[i + 3]!;
    for (let ch = 0; ch < 3; ch++) data[j + ch] = a === 255 ? rgba[i + ch]! : Math.round((rgba[i + ch]! * a + 255 * (255 - a)) / 255);
  }
  return { data, width, height };
}
