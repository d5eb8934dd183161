/** `herd generate`: continue a prompt (or answer a chat message) with a language core. */
import { EOT_ID, END_OF_TEXT_ID, Generator, buildDecoder, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';
import { type DeviceRequest, chooseDevice } from '@herd/runtime';
import { type Args } from '../args.js';

export const GENERATE_OPTIONS = { prompt: 'value', chat: 'switch', model: 'value', 'max-tokens': 'value', temperature: 'value', 'top-p': 'value', seed: 'value', device: 'value' } as const;

export async function generateCommand(args: Args, device: DeviceRequest, out: NodeJS.WritableStream = process.stdout): Promise<string> {
  const prompt = args.str('prompt') ?? args.positional.join(' ');
  const core = loadLanguageCore(args.str('model'));
  const tok = await loadLlama3Tokenizer();
  const full = args.has('chat') ? tok.encodeChat([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : tok.encode(prompt, { bos: true });
  const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
  const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
  const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
  const choice = chooseDevice(device);
  const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: choice.device });
  const stream = tok.streamDecoder();
  let text = '';
  if (!args.has('chat')) out.write(prompt);
  for await (const id of gen.generate(toModel(full), {
    maxNewTokens: args.num('max-tokens', 64),
    temperature: args.num('temperature', 0),
    topP: args.num('top-p', 1),
    seed: args.num('seed', 0),
    stopTokens: stops,
  })) {
    if (stops.includes(id)) break;
    const piece = stream.push(toFull([id]));
    text += piece;
    out.write(piece);
  }
  const rest = stream.flush();
  text += rest;
  out.write(rest + '\n');
  await gen.release();
  return text;
}
