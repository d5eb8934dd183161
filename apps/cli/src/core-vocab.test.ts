/**
 * The committed mini core knows every word the modalities bring it: the image eval's questions,
 * answers and captions, the video eval's questions and answers and clip narrations, and the speech
 * recipe's prompts (ASR / AST instructions, spoken questions, their scene context and the replies)
 * all tokenise without the unknown row of the core's pruned vocabulary. An unknown token would make
 * two prompts read alike to the frozen core (the old core's "Transcribe the audio." was
 * `<unk> <unk> the <unk>.`). Lives in the app because it is the one package that sees all three.
 */
import { COPY_WORDS, worldWords, copyText, describeMotion, describeScene, itemRng, randomMotion, randomScene, sceneQuestions, videoQuestions } from '@herd/datasets';
import { loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { ASR_INSTRUCTION, AST_INSTRUCTION, tasksOf } from '@herd/speech';
import { describe, expect, it } from 'vitest';

/**
 * The core checked: the committed one, or the folder in HERD_VOCAB_TEST_CORE — a candidate core trained
 * from scratch builds its vocabulary from its own corpus, and must pass the same checks before it can
 * replace the committed one (`HERD_VOCAB_TEST_CORE=DIR npx vitest run apps/cli/src/core-vocab.test.ts`).
 */
const coreDir = process.env['HERD_VOCAB_TEST_CORE'] || undefined;

describe(`mini core vocabulary (${coreDir ?? 'the committed core'})`, () => {
  it('holds every word of the vision, video and speech prompts and answers (no unknown token)', async () => {
    const core = loadLanguageCore(coreDir);
    const tok = await loadLlama3Tokenizer();
    const vocab = core.vocab!;
    const unknownIn = (role: 'user' | 'assistant', content: string): string[] => {
      const ids = tok.encodeChat([{ role, content }], { addGenerationPrompt: role === 'user' });
      const compact = vocab.toCompact(ids);
      return ids.filter((_, i) => compact[i] === vocab.unknown).map((id) => JSON.stringify(tok.decode([id])));
    };
    const problems = new Set<string>();
    const check = (what: string, role: 'user' | 'assistant', content: string) => {
      for (const t of unknownIn(role, content)) problems.add(`${what}: ${t} in "${content}"`);
    };
    for (let i = 0; i < 400; i++) {
      const split = i % 4 === 0 ? 'heldout' : 'train';
      const rng = itemRng(99, 'vocab-test', i);
      // Vision: caption + question (the `described` row and the adapter's prompt), answers.
      const scene = randomScene(rng, { split, wordProbability: 0.5 });
      const caption = describeScene(rng, scene);
      check('image caption', 'assistant', caption);
      for (const q of sceneQuestions(rng, scene)) {
        check(`image ${q.type} question`, 'user', `${caption} ${q.question}`);
        check(`image ${q.type} question`, 'user', q.question);
        check(`image ${q.type} answer`, 'assistant', q.answer);
      }
      // Video: narration + the eval's questions and answers.
      const motion = randomMotion(rng, { split });
      check('clip narration', 'assistant', describeMotion(rng, motion));
      for (const q of videoQuestions(motion)) {
        check(`video ${q.type} question`, 'user', q.question);
        check(`video ${q.type} answer`, 'assistant', q.answer);
      }
      // Speech: the text around the audio and the replies of every task.
      const spoken = rng.pick(sceneQuestions(rng, scene));
      const metas: Record<string, unknown>[] = [
        { task: 'statement', spoken: caption },
        { task: 'question', spoken: spoken.question, context: caption, answer: spoken.answer },
        { task: 'translation', spoken: 'x', scene: { ...scene, word: null } },
      ];
      for (const meta of metas) {
        for (const t of tasksOf(meta, `k${i}`)) {
          if (t.prompt.before) check(`speech ${t.task} prompt`, 'user', t.prompt.before);
          // After the audio the instruction follows a space (as after a sentence), so check both forms.
          if (t.prompt.after) check(`speech ${t.task} prompt`, 'user', t.prompt.after);
          if (t.prompt.after) check(`speech ${t.task} prompt`, 'user', `${caption} ${t.prompt.after}`);
          check(`speech ${t.task} reply`, 'assistant', t.target);
        }
      }
    }
    for (const s of [ASR_INSTRUCTION, AST_INSTRUCTION, 'Transcribe the audio.', 'Translate the audio into English.']) check('speech instruction', 'user', s);
    expect([...problems].slice(0, 20)).toEqual([]);
  });

  it('holds every token of copy documents (datasets --text-mix copy=X), so a core continued with --keep-vocab can train on them', async () => {
    const core = loadLanguageCore(coreDir);
    const tok = await loadLlama3Tokenizer();
    const vocab = core.vocab!;
    // Every world word in one document (copy documents may be asked to draw from any), then random documents as the corpus writes them.
    const texts = [` ${worldWords().join(' ')}`, ...Array.from({ length: 200 }, (_, i) => copyText(itemRng(99, 'copy-vocab-test', i)))];
    const unknown = new Set<string>();
    for (const text of texts) {
      const ids = tok.encode(text, { bos: true, eos: true });
      vocab.toCompact(ids).forEach((row, i) => row === vocab.unknown && unknown.add(JSON.stringify(tok.decode([ids[i]!]))));
    }
    expect([...unknown]).toEqual([]);
  });

  it("COPY_WORDS (the datasets' default copy words, a committed list) is exactly the world words that are one Llama 3 token after a space", async () => {
    const tok = await loadLlama3Tokenizer();
    const oneToken = worldWords().filter((w) => tok.encode(` ${w}`, { bos: false, eos: false }).length === 1);
    expect([...COPY_WORDS].sort()).toEqual(oneToken);
  });
});
