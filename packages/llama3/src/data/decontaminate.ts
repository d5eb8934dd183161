/**
 * Held-out decontamination: a held-out document whose text is byte-for-byte a document of the
 * reference (training) split is dropped, naming it — `in_training_split: same text as txt-00000042`
 * — so a held-out score cannot come from memorised training text. Exact text only (sha256 of the
 * `txt` bytes, as `exactDuplicate` hashes); near copies across splits are not caught.
 */
import { iterateDataset, isUnreadable, mediaHash, type SampleStage } from '@herd/data';

export interface DecontaminateOptions {
  /** A dataset folder: the split the documents must not repeat (e.g. the corpus's train/). */
  readonly against: string;
}

/** sha256 of each reference document's text → its key (the first, in dataset order). */
export async function referenceHashes(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for await (const s of iterateDataset(dir, { tolerant: true })) {
    if (isUnreadable(s)) continue;
    const h = mediaHash(s, ['txt']);
    if (h !== null && !hashes.has(h)) hashes.set(h, s.key);
  }
  return hashes;
}

export function decontaminate(reference: ReadonlyMap<string, string>, o: { name?: string; version?: string } = {}): SampleStage {
  return {
    kind: 'sample',
    name: o.name ?? 'decontaminate',
    version: o.version ?? `sha256;${reference.size}`,
    process(sample) {
      const h = mediaHash(sample, ['txt']);
      const key = h === null ? undefined : reference.get(h);
      return key === undefined ? { keep: true, sample } : { keep: false, reason: `in_training_split: same text as ${key}` };
    },
  };
}
