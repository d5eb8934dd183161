/**
 * `herd chat`: a conversation with the mini herd (or a given core + vision checkpoint) in the terminal.
 * One line is one message; `/image FILE` attaches a picture to the next message, `/reset` forgets the
 * conversation, `/quit` (or end of input) leaves. On a TTY: a prompt, line editing and this session's
 * history (up arrow); piped input is read line by line and each answer is printed on its own line.
 * A bad file or command is a one-line error and the chat goes on.
 */
import { createInterface } from 'node:readline';
import { UsageError, formatCommandError, flag } from '@herd/core';
import { type ChatMessage, EOT_ID, END_OF_TEXT_ID, Generator, MINI_CORE_DIR, buildDecoder } from '@herd/llama3';
import { MINI_VISION_DIR, type TiledImage, VisionGenerator, loadMiniVision, preprocessImage, toVisionIds } from '@herd/vision';
import { DEVICE_FLAG, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { MODEL_FLAG } from './generate.js';

interface Turn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
  readonly image?: TiledImage;
}

/** Images are kept on the last this many user turns (older turns keep their text), as the chat server does. */
const MAX_IMAGES = 2;

const HELP = `commands: /image FILE (attach a picture to your next message) · /reset (forget the conversation) · /quit (or Ctrl-D) · /help`;

export const chatCommand = defineCommand({
  words: ['chat'],
  summary: 'talk with the mini herd in the terminal (/image FILE, /reset, /quit); reads piped input line by line',
  usesDevice: true,
  flags: {
    ...MODEL_FLAG,
    vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint (default: the built-in mini one)' }),
    'text-only': flag.boolean({ description: 'the language core alone (no /image)' }),
    'max-tokens': flag.integer({ min: 1, default: 128, description: 'tokens per answer at most' }),
    ...DEVICE_FLAG,
  },
  notes: HELP,
  async run({ values, io, device }) {
    const { core, tok } = await openLanguageCore(values.model ?? MINI_CORE_DIR, io.stderr);
    const vision = values['text-only'] ? undefined : loadMiniVision(values.vision ?? MINI_VISION_DIR, core);
    const options = { device: device().device };
    // With vision loaded every answer (text-only turns too) comes from the composed model, as in the chat server.
    const visionGen = vision ? VisionGenerator.create(vision.config, core.weights, vision.weights, options) : undefined;
    const textGen = vision ? undefined : await Generator.create(core.config, buildDecoder(core.config, core.weights), options);
    const toModel = (ids: readonly number[]) => (vision ? toVisionIds(core, vision.config, ids) : core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
    const toFull = (id: number) => (core.vocab ? core.vocab.toFull([id])[0]! : id);
    const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
    const tty = io.stdin.isTTY === true;
    const rl = createInterface({ input: io.stdin, output: tty ? io.stdout : undefined, terminal: tty, historySize: 200 });
    const say = (line: string) => io.stdout.write(`${line}\n`);
    const complain = (e: unknown) => io.stderr.write(`${formatCommandError('herd', e, false)}\n`);
    let turns: Turn[] = [];
    let pending: { file: string; image: TiledImage } | undefined;

    const promptIds = (ts: readonly Turn[]): number[] =>
      toModel(tok.encodeChat(ts.map((t): ChatMessage => ({ role: t.role, content: t.image ? [{ type: 'image' }, { type: 'text', text: t.text }] : t.text })), { addGenerationPrompt: true }));

    const answer = async (message: string): Promise<void> => {
      let ts = [...turns, { role: 'user' as const, text: message, ...(pending ? { image: pending.image } : {}) }];
      // The oldest exchanges go first when the conversation outgrows the context.
      while (promptIds(ts).length + values['max-tokens'] > core.config.maxSeqLen && ts.length > 1) ts = ts.slice(2 <= ts.length - 1 ? 2 : 1);
      const prompt = promptIds(ts);
      const sampling = { maxNewTokens: values['max-tokens'], temperature: 0, stopTokens: stops };
      const images = ts.flatMap((t) => (t.image ? [t.image] : []));
      const ids = visionGen ? visionGen.generate(prompt, images, sampling) : textGen!.generate(prompt, sampling);
      const stream = tok.streamDecoder();
      let reply = '';
      if (tty) io.stdout.write('herd> ');
      for await (const id of ids) {
        if (stops.includes(id)) break;
        const piece = stream.push([toFull(id)]);
        reply += piece;
        if (tty) io.stdout.write(piece);
      }
      const rest = stream.flush();
      reply += rest;
      if (tty) io.stdout.write(`${rest}\n`);
      else say(reply);
      pending = undefined;
      const kept = [...ts, { role: 'assistant' as const, text: reply }];
      let seen = 0;
      turns = kept.reverse().map((t) => (t.image && ++seen > MAX_IMAGES ? { role: t.role, text: t.text } : t)).reverse();
    };

    if (tty) {
      say(`herd chat — ${core.dir === MINI_CORE_DIR ? 'the mini core' : core.dir}${vision ? ' + vision adapter' : ''} on ${options.device}. ${HELP}`);
      rl.setPrompt('you> ');
      rl.prompt();
    }
    try {
      for await (const raw of rl) {
        const line = raw.trim();
        try {
          if (line === '') {
            // nothing to send
          } else if (line === '/quit' || line === '/exit') {
            break;
          } else if (line === '/reset') {
            turns = [];
            pending = undefined;
            if (tty) say('(conversation forgotten)');
          } else if (line === '/help') {
            say(HELP);
          } else if (line.startsWith('/image')) {
            const file = line.slice('/image'.length).trim();
            if (file === '') throw new UsageError('/image needs a file: /image path/to/picture.png');
            if (!vision) throw new UsageError('/image: this chat runs the language core alone (--text-only); start it without --text-only to talk about pictures');
            pending = { file, image: await preprocessImage(file, vision.config.vision, { name: file }) };
            if (tty) say(`(attached ${file}: ${pending.image.nTiles} tile(s); it goes with your next message)`);
          } else if (line.startsWith('/')) {
            throw new UsageError(`unknown command ${line.split(/\s/)[0]}; ${HELP}`);
          } else {
            await answer(line);
          }
        } catch (e) {
          complain(e);
        }
        if (tty) rl.prompt();
      }
    } finally {
      rl.close();
      await visionGen?.release();
      await textGen?.release();
    }
  },
});
