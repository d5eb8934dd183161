/**
 * `herd chat` with piped input (not a TTY): one line per message, one answer line each; history is
 * part of the prompt; /image attaches a picture to the next message; /reset forgets; bad files and
 * unknown commands are one-line errors and the chat goes on.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EOT_ID, END_OF_TEXT_ID, Generator, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { runCli } from '../cli.js';

const SCENE = new URL('../../../../packages/vision/fixtures/heldout-scenes/img-00000019.png', import.meta.url).pathname;

async function herd(argv: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  stdin.end(input ?? '');
  const code = await runCli(argv, {}, { stdout, stderr, stdin });
  return { code, out, err };
}

describe('herd chat (piped input)', () => {
  it('answers line by line with the conversation as context, /reset forgets it, errors are one line and the chat goes on', async () => {
    const q1 = 'How many squares are there?';
    const q2 = 'What colour are they?';
    const r = await herd(['chat', '--max-tokens', '20'], `${q1}\n/image /no/such/picture.png\n/frobnicate\n${q2}\n/reset\n${q2}\n/quit\nnot read after quit\n`);
    expect(r.code).toBe(0);
    const errors = r.err.trim().split('\n');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^herd: io_error: .*picture\.png/);
    expect(errors[1]).toMatch(/^herd: invalid_argument: unknown command \/frobnicate/);
    const answers = r.out.trimEnd().split('\n');
    expect(answers).toHaveLength(3);

    // The same answers from the core's generator on the chat template (text turns go through the
    // composed model, which leaves text-only rows unchanged: the core's greedy answers).
    const core = loadLanguageCore();
    const tok = await loadLlama3Tokenizer();
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights));
    const stops = Array.from(core.vocab!.toCompact([EOT_ID, END_OF_TEXT_ID]));
    const reply = async (messages: { role: 'user' | 'assistant'; content: string }[]) => {
      const ids = await gen.complete(Array.from(core.vocab!.toCompact(tok.encodeChat(messages, { addGenerationPrompt: true }))), { maxNewTokens: 20, stopTokens: stops });
      const end = ids.findIndex((t) => stops.includes(t));
      return tok.decode(Array.from(core.vocab!.toFull(end < 0 ? ids : ids.slice(0, end))));
    };
    try {
      const a1 = await reply([{ role: 'user', content: q1 }]);
      expect(answers[0]).toBe(a1);
      expect(answers[1]).toBe(await reply([{ role: 'user', content: q1 }, { role: 'assistant', content: a1 }, { role: 'user', content: q2 }]));
      expect(answers[2]).toBe(await reply([{ role: 'user', content: q2 }]));
    } finally {
      await gen.release();
    }
  }, 120_000);

  it("/image attaches a picture to the next message: the answer is herd generate --image's", async () => {
    const q = 'What colour is the shape?';
    const chat = await herd(['chat', '--max-tokens', '12'], `/image ${SCENE}\n${q}\n`);
    const direct = await herd(['generate', '--image', SCENE, '--prompt', q, '--max-tokens', '12']);
    expect(chat.err).toBe('');
    expect(direct.code).toBe(0);
    expect(chat.out).toBe(direct.out);
    const textOnly = await herd(['chat', '--text-only'], `/image ${SCENE}\n`);
    expect(textOnly.err).toMatch(/^herd: invalid_argument: \/image: this chat runs the language core alone/);
  }, 120_000);
});
