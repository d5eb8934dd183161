/**
 * A pruned view of the Llama 3 vocabulary for small models: the ids seen in a corpus, the chat
 * scaffolding, and one `unknown` id get compact indices [0, size); everything else maps to unknown.
 *
 * Outside the model, ids stay real Llama 3 ids, so tokenization, chat templates and decoding are the
 * full tokenizer's. Compact indices are full ids in ascending order, which makes the mapping
 * deterministic and the JSON readable.
 */
import { readFileSync } from 'node:fs';
import { HerdError, ProblemList, writeFileAtomic } from '@herd/core';
import { CHAT_ROLES } from './chat.js';
import { BEGIN_OF_TEXT_ID, END_HEADER_ID, END_OF_TEXT_ID, EOM_ID, EOT_ID, START_HEADER_ID } from './special.js';
import type { Llama3Tokenizer } from './tokenizer.js';

/** `<|reserved_special_token_0|>`: never produced by text, the same in Llama 3.0 and 3.1+. */
export const DEFAULT_UNKNOWN_ID = 128_002;

/** Specials a chat model needs whatever the corpus. */
export const CHAT_SPECIAL_IDS: readonly number[] = [BEGIN_OF_TEXT_ID, END_OF_TEXT_ID, START_HEADER_ID, END_HEADER_ID, EOM_ID, EOT_ID];

export interface PrunedVocabOptions {
  /** Keep an id only if it occurs at least this often in the corpus. Default 1. */
  readonly minCount?: number;
  /** Extra full ids to keep, e.g. IMAGE_TOKEN_ID for a vision model. */
  readonly keepIds?: readonly number[];
  /** Full id that stands for every pruned id. Default `<|reserved_special_token_0|>` (128002). */
  readonly unknownId?: number;
}

export interface PrunedVocabJson {
  readonly format: 'herd.pruned-vocab';
  readonly version: 1;
  readonly tokenizer: 'llama3';
  /** Full ids are below this. */
  readonly fullIdLimit: number;
  readonly unknownId: number;
  /** Kept full ids, ascending; compact index = position. Includes unknownId. */
  readonly ids: readonly number[];
}

export class PrunedVocab {
  /** Compact index of the unknown id. */
  readonly unknown: number;
  private readonly fullToCompact: Int32Array;

  private constructor(
    /** Kept full ids, ascending; compact index = position. */
    readonly ids: readonly number[],
    /** The full id that pruned tokens turn into. */
    readonly unknownId: number,
    readonly fullIdLimit: number,
  ) {
    this.fullToCompact = new Int32Array(fullIdLimit);
    this.unknown = ids.indexOf(unknownId);
    this.fullToCompact.fill(this.unknown);
    ids.forEach((id, i) => {
      this.fullToCompact[id] = i;
    });
  }

  /** Compact vocabulary size, the `vocabSize` of a model trained on this view. */
  get size(): number {
    return this.ids.length;
  }

  /**
   * Counts the corpus' token ids with the full tokenizer and keeps those seen `minCount` times, plus
   * the chat specials, the tokens of the chat headers ("system", "user", "assistant", "\n\n") and
   * the unknown id.
   */
  static fromCorpus(tokenizer: Llama3Tokenizer, texts: Iterable<string>, options: PrunedVocabOptions = {}): PrunedVocab {
    const minCount = options.minCount ?? 1;
    const unknownId = options.unknownId ?? DEFAULT_UNKNOWN_ID;
    const limit = tokenizer.numIds;
    const problems = new ProblemList();
    if (!Number.isInteger(minCount) || minCount < 1) problems.add(`minCount must be an integer >= 1, got ${minCount}`);
    for (const id of [unknownId, ...(options.keepIds ?? [])]) {
      if (!Number.isInteger(id) || id < 0 || id >= limit) problems.add(`id ${id} is outside the Llama 3 vocabulary [0, ${limit})`);
    }
    problems.throwIfAny('invalid_argument', 'cannot prune the vocabulary');

    const counts = new Uint32Array(limit);
    for (const text of texts) {
      for (const id of tokenizer.encodeOrdinary(text)) counts[id] = (counts[id] as number) + 1;
    }
    const keep = new Set<number>([unknownId, ...CHAT_SPECIAL_IDS, ...(options.keepIds ?? [])]);
    for (const role of CHAT_ROLES) for (const id of tokenizer.encodeOrdinary(role)) keep.add(id);
    for (const id of tokenizer.encodeOrdinary('\n\n')) keep.add(id);
    counts.forEach((c, id) => {
      if (c >= minCount) keep.add(id);
    });
    return new PrunedVocab([...keep].sort((a, b) => a - b), unknownId, limit);
  }

  static fromJSON(json: unknown): PrunedVocab {
    const j = json as Partial<PrunedVocabJson> | null;
    const problems = new ProblemList();
    if (j?.format !== 'herd.pruned-vocab') problems.add(`format must be "herd.pruned-vocab", got ${JSON.stringify(j?.format)}`);
    if (j?.version !== 1) problems.add(`version must be 1, got ${JSON.stringify(j?.version)}`);
    if (j?.tokenizer !== 'llama3') problems.add(`tokenizer must be "llama3", got ${JSON.stringify(j?.tokenizer)}`);
    const limit = j?.fullIdLimit;
    if (!Number.isInteger(limit) || (limit as number) <= 0) problems.add(`fullIdLimit must be a positive integer`);
    const ids = j?.ids;
    if (!Array.isArray(ids) || ids.length === 0) {
      problems.add('ids must be a non-empty array');
    } else {
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= (limit as number)) problems.add(`ids[${i}] = ${id} is out of range`);
        else if (i > 0 && id <= (ids[i - 1] as number)) problems.add(`ids must be strictly ascending (ids[${i}] = ${id})`);
      });
      if (!ids.includes(j?.unknownId as number)) problems.add(`unknownId ${j?.unknownId} must be one of ids`);
    }
    problems.throwIfAny('corrupt_data', 'bad pruned vocabulary JSON');
    return new PrunedVocab([...(ids as number[])], j?.unknownId as number, limit as number);
  }

  toJSON(): PrunedVocabJson {
    return {
      format: 'herd.pruned-vocab',
      version: 1,
      tokenizer: 'llama3',
      fullIdLimit: this.fullIdLimit,
      unknownId: this.unknownId,
      ids: this.ids,
    };
  }

  /** Writes the JSON atomically (save it beside the checkpoint it belongs to). */
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, JSON.stringify(this.toJSON()) + '\n');
  }

  static load(path: string): PrunedVocab {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new HerdError('io_error', `cannot read pruned vocabulary ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return PrunedVocab.fromJSON(JSON.parse(text));
    } catch (e) {
      if (e instanceof HerdError) throw new HerdError(e.code, `${path}: ${e.message}`, { cause: e });
      throw new HerdError('corrupt_data', `${path}: not JSON (${(e as Error).message})`, { cause: e });
    }
  }

  /** True when the full id has its own compact index (the unknown id counts as kept). */
  has(fullId: number): boolean {
    return Number.isInteger(fullId) && fullId >= 0 && fullId < this.fullIdLimit && this.ids[this.fullToCompact[fullId] as number] === fullId;
  }

  /** Full ids to compact indices; pruned ids become `unknown`. */
  toCompact(fullIds: ArrayLike<number>): Int32Array {
    const out = new Int32Array(fullIds.length);
    for (let i = 0; i < fullIds.length; i++) {
      const id = fullIds[i] as number;
      if (!(id >= 0 && id < this.fullIdLimit) || !Number.isInteger(id)) {
        throw new HerdError('invalid_argument', `id ${id} at position ${i} is outside the Llama 3 vocabulary [0, ${this.fullIdLimit})`);
      }
      out[i] = this.fullToCompact[id] as number;
    }
    return out;
  }

  /** Compact indices back to full Llama 3 ids (`unknown` becomes `unknownId`). */
  toFull(compactIds: ArrayLike<number>): Int32Array {
    const out = new Int32Array(compactIds.length);
    for (let i = 0; i < compactIds.length; i++) {
      const c = compactIds[i] as number;
      const id = this.ids[c];
      if (id === undefined) {
        throw new HerdError('invalid_argument', `compact id ${c} at position ${i} is outside [0, ${this.ids.length})`);
      }
      out[i] = id;
    }
    return out;
  }
}
