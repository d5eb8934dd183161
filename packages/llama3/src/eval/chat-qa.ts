/**
 * Question answering in the chat format: the model gets the user turn and answers greedily.
 * Two scores: exact match after normalisation (case, spacing, punctuation), and key-word match —
 * every content word of the reference appears in the answer — since the same fact is phrased
 * several ways in the corpus ("One." / "There is one diamond."). An item may carry a question type
 * and its own grader (e.g. the image eval's key word of the type), reported per type as `graded`.
 */
import { type Generator } from '../model/generate.js';
import { type PrunedVocab } from '../tokenizer/pruned.js';
import { END_OF_TEXT_ID, EOT_ID } from '../tokenizer/special.js';
import { type Llama3Tokenizer } from '../tokenizer/tokenizer.js';

export interface QaItem {
  readonly question: string;
  readonly answer: string;
  /** Free-form group for per-group accuracy (e.g. 'train-combos', 'heldout-combos'). */
  readonly group: string;
  /** Question type, for per-type accuracy (e.g. 'colour'); untyped items count only in groups. */
  readonly type?: string;
  /** The type's own grading (default: `keywordMatch`), reported as `graded`. */
  readonly grade?: (answer: string, reference: string) => boolean;
}

export interface QaScore {
  readonly exact: number;
  readonly keywords: number;
  /** Share that passed the item's own grader (`QaItem.grade`, default key words). */
  readonly graded: number;
  readonly n: number;
}

export interface QaReport extends QaScore {
  readonly byGroup: Readonly<Record<string, QaScore>>;
  readonly byType: Readonly<Record<string, QaScore>>;
  /** A few graded examples, for the model card. */
  readonly examples: readonly { readonly question: string; readonly reference: string; readonly answer: string; readonly exact: boolean; readonly keywords: boolean }[];
}

export function normaliseAnswer(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

const FILLER = new Set(['a', 'an', 'the', 'is', 'are', 'there', 'it', 'its', 'they', 'of', 'in', 'on', 'at', 'to', 'and', 'sized']);

/** Every content word of the reference occurs in the answer. */
export function keywordMatch(answer: string, reference: string): boolean {
  const words = new Set(normaliseAnswer(answer).split(' '));
  return normaliseAnswer(reference).split(' ').filter((w) => w && !FILLER.has(w)).every((w) => words.has(w));
}

/** One graded answer, as `evaluateChatQa` hands it to its `onAnswer` callback (e.g. to list every wrong answer). */
export interface QaAnswer {
  readonly item: QaItem;
  readonly answer: string;
  readonly exact: boolean;
  readonly keywords: boolean;
  readonly graded: boolean;
}

export async function evaluateChatQa(
  gen: Generator,
  tok: Llama3Tokenizer,
  vocab: PrunedVocab | undefined,
  items: readonly QaItem[],
  maxNewTokens = 32,
  onAnswer?: (a: QaAnswer) => void,
): Promise<QaReport> {
  const toModel = (ids: readonly number[]) => (vocab ? Array.from(vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (vocab ? Array.from(vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  type Acc = { exact: number; keywords: number; graded: number; n: number };
  const groups = new Map<string, Acc>();
  const types = new Map<string, Acc>();
  const slot = (m: Map<string, Acc>, k: string) => m.get(k) ?? m.set(k, { exact: 0, keywords: 0, graded: 0, n: 0 }).get(k)!;
  const examples: QaReport['examples'][number][] = [];
  const total: Acc = { exact: 0, keywords: 0, graded: 0, n: 0 };
  for (const item of items) {
    const prompt = toModel(tok.encodeChat([{ role: 'user', content: item.question }], { addGenerationPrompt: true }));
    const out = await gen.complete(prompt, { maxNewTokens, temperature: 0, stopTokens: stops });
    const answer = tok.decode(toFull(out.filter((t) => !stops.includes(t)))).trim();
    const exact = normaliseAnswer(answer) === normaliseAnswer(item.answer);
    const keywords = keywordMatch(answer, item.answer);
    const graded = item.grade ? item.grade(answer, item.answer) : keywords;
    for (const acc of [total, slot(groups, item.group), ...(item.type !== undefined ? [slot(types, item.type)] : [])]) {
      acc.exact += exact ? 1 : 0;
      acc.keywords += keywords ? 1 : 0;
      acc.graded += graded ? 1 : 0;
      acc.n++;
    }
    onAnswer?.({ item, answer, exact, keywords, graded });
    if (examples.length < 8) examples.push({ question: item.question, reference: item.answer, answer, exact, keywords });
  }
  const rate = (a: Acc): QaScore => ({ exact: a.n ? a.exact / a.n : 0, keywords: a.n ? a.keywords / a.n : 0, graded: a.n ? a.graded / a.n : 0, n: a.n });
  const table = (m: Map<string, Acc>) => Object.fromEntries([...m].map(([k, v]) => [k, rate(v)]));
  return { ...rate(total), byGroup: table(groups), byType: table(types), examples };
}
