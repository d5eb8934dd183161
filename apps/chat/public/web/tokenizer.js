// The Llama 3 tokenizer in the page, read from an export's tokenizer.json (format herd.llama3-tokenizer):
// byte-level BPE as tiktoken does it (join the adjacent pair with the lowest rank, leftmost on ties),
// the Llama 3 chat format, and the pruned vocabulary of a mini model. A port of @herd/llama3's
// tokenizer for a page without a build step; src/web-engine.test.ts checks it gives herd's ids.

const utf8 = new TextEncoder();

/** GPT-2's byte <-> printable character table of Hugging Face byte-level vocabularies. */
function charToByteTable() {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const m = new Map();
  bs.forEach((b, i) => m.set(String.fromCharCode(cs[i]), b));
  return m;
}

/** One UTF-16 code unit per byte, so byte strings key a Map. */
const binary = (bytes) => {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
};

export const IMAGE_TOKEN_ID = 128256;

export class WebTokenizer {
  constructor(json) {
    if (json.format !== 'herd.llama3-tokenizer') throw new Error(`tokenizer.json: format ${JSON.stringify(json.format)}, expected herd.llama3-tokenizer`);
    const table = charToByteTable();
    this.ranks = new Map();
    this.bytesById = [];
    json.bpe.forEach((tok, id) => {
      const bytes = Uint8Array.from(tok, (c) => table.get(c));
      this.ranks.set(binary(bytes), id);
      this.bytesById.push(bytes);
    });
    this.numBpe = json.bpe.length;
    json.specials.forEach((name) => this.bytesById.push(utf8.encode(name)));
    this.special = (name) => this.numBpe + json.specials.indexOf(name);
    this.pattern = new RegExp(json.pattern, 'gu');
    this.pruned = json.pruned ?? null;
    if (this.pruned) {
      this.fullToModel = new Map(this.pruned.ids.map((id, i) => [id, i]));
      this.unknown = this.fullToModel.get(this.pruned.unknownId);
    }
  }

  bpe(piece) {
    const direct = this.ranks.get(piece);
    if (direct !== undefined) return [direct];
    const parts = [...piece];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      parts.splice(best, 2, parts[best] + parts[best + 1]);
    }
    return parts.map((p) => this.ranks.get(p));
  }

  /** Full Llama 3 ids of text with no special tokens. */
  encodeOrdinary(text) {
    const out = [];
    this.pattern.lastIndex = 0;
    for (let m = this.pattern.exec(text); m !== null; m = this.pattern.exec(text)) out.push(...this.bpe(binary(utf8.encode(m[0]))));
    return out;
  }

  /** The Llama 3 chat format: messages {role, content: string | [{type:'image'} | {type:'text', text}]}. */
  encodeChat(messages, addGenerationPrompt = true) {
    const out = [this.special('<|begin_of_text|>')];
    const header = (role) => out.push(this.special('<|start_header_id|>'), ...this.encodeOrdinary(role), this.special('<|end_header_id|>'), ...this.encodeOrdinary('\n\n'));
    for (const m of messages) {
      header(m.role);
      if (typeof m.content === 'string') out.push(...this.encodeOrdinary(m.content.trim()));
      else for (const part of m.content) part.type === 'image' ? out.push(IMAGE_TOKEN_ID) : out.push(...this.encodeOrdinary(part.text.trim()));
      out.push(this.special('<|eot_id|>'));
    }
    if (addGenerationPrompt) header('assistant');
    return out;
  }

  /** Full id → model id (through the pruned vocabulary when there is one). */
  toModel(id) {
    return this.pruned ? (this.fullToModel.get(id) ?? this.unknown) : id;
  }

  toFull(id) {
    return this.pruned ? this.pruned.ids[id] : id;
  }

  /** Streaming text of model ids: never half a character. */
  streamDecoder() {
    const dec = new TextDecoder('utf-8');
    return {
      push: (modelId) => dec.decode(this.bytesById[this.toFull(modelId)] ?? new Uint8Array(0), { stream: true }),
      flush: () => dec.decode(),
    };
  }
}
