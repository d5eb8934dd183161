#!/usr/bin/env node
/**
 * `herd-chat` (npm run chat): loads the core (and a vision checkpoint when given), serves the chat
 * page and API on 127.0.0.1 by default, prints the URL. `--once --prompt TEXT [--image|--audio|--clip FILE]`
 * starts the same server on a free loopback port, asks one question through the API, prints the
 * streamed answer and exits (a fresh-machine check). Flags and HERD_DEVICE are read here only.
 */
import { readFileSync } from 'node:fs';
import { MINI_SPEECH_DIR } from '@herd/speech';
import { MINI_VIDEO_DIR } from '@herd/video';
import { MINI_VISION_DIR } from '@herd/vision';
import { basename } from 'node:path';
import { HerdError, UsageError, describeFlags, exitCodeFor, flag, formatCommandError, parseCommandLine } from '@herd/core';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, type DeviceRequest, isDeviceRequest, resolveDevice } from '@herd/runtime';
import { checkpointEngineOptions, checkpointId } from './checkpoints.js';
import { HerdEngine, type LoadEngineOptions } from './engine.js';
import { type Checkpoint, ChatServer } from './server.js';
import { postChat } from './sse-client.js';

const FLAGS = {
  port: flag.integer({ min: 0, max: 65535, default: 8080, description: 'port to listen on (0: any free port)' }),
  host: flag.string({ default: '127.0.0.1', description: 'address to bind (default loopback only; 0.0.0.0 exposes the server to the network)' }),
  model: flag.string({ placeholder: 'DIR', description: 'a Hugging Face-layout Llama folder (default: the built-in mini core)' }),
  vision: flag.string({ placeholder: 'DIR', description: 'a vision checkpoint: herd\'s own (encoder + adapter, e.g. packages/vision/weights/mini) or an HF Mllama folder; without it: text only, "vision: not loaded"' }),
  speech: flag.string({ placeholder: 'DIR', description: 'a speech checkpoint (encoder + adapter, e.g. packages/speech/weights/mini); without it: "speech: not loaded", audio refused' }),
  video: flag.string({ placeholder: 'DIR', description: 'a video checkpoint (aggregator + video cross-attention, e.g. packages/video/weights/mini); it brings the image checkpoint it was trained on, which reads its clips (--vision answers images)' }),
  mini: flag.boolean({ description: 'load every built-in mini checkpoint: vision, speech and video (the mini herd)' }),
  checkpoint: flag.string({ placeholder: 'DIR', multiple: true, description: 'a checkpoint folder the page can switch to (repeatable): herd\'s vision, speech or video checkpoint replaces that part of the default model; a Hugging Face Llama folder is a core alone' }),
  device: flag.choice(DEVICE_REQUESTS, { description: `where ONNX Runtime runs; else HERD_DEVICE, else ${DEFAULT_DEVICE}` }),
  queue: flag.integer({ min: 0, max: 1000, default: 4, description: 'requests that may wait behind the running one; more get 503 + Retry-After' }),
  'max-tokens': flag.integer({ min: 1, max: 4096, default: 256, description: 'longest answer in tokens' }),
  timeout: flag.number({ above: 0, default: 120, description: 'seconds one chat request may take, queue wait included' }),
  'max-upload-mb': flag.number({ above: 0, max: 1024, default: 10, description: 'largest upload (image, audio or clip) in MiB' }),
  once: flag.boolean({ description: 'answer --prompt (about --image, --audio or --clip) through the API once, print it and exit' }),
  prompt: flag.string({ description: 'the question for --once', maxBytes: 16_000 }),
  image: flag.string({ placeholder: 'FILE', description: 'an image for --once (needs --vision)' }),
  audio: flag.string({ placeholder: 'FILE', description: 'audio for --once: a spoken question, or speech to transcribe without --prompt (needs --speech)' }),
  clip: flag.string({ placeholder: 'FILE', description: 'a video clip for --once (needs --video)' }),
  verbose: flag.boolean({ description: 'print stacks with errors' }),
  help: flag.boolean({ short: 'h', description: 'show this help' }),
} as const;

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    const { values } = parseCommandLine(argv, FLAGS);
    if (values.help) {
      process.stdout.write(`usage: herd-chat [flags]   (npm run chat -- [flags])\n\n${describeFlags(FLAGS)}\n`);
      return 0;
    }
    const attached = (['image', 'audio', 'clip'] as const).filter((k) => values[k] !== undefined);
    if (!values.once && (values.prompt !== undefined || attached.length > 0)) throw new UsageError('--prompt, --image, --audio and --clip go with --once');
    if (values.once && values.prompt === undefined && values.audio === undefined) throw new UsageError('--once needs --prompt TEXT (or --audio FILE)');
    if (attached.length > 1) throw new UsageError(`--${attached.join(' and --')}: one attachment per question`);
    const visionDir = values.vision ?? (values.mini ? MINI_VISION_DIR : undefined);
    const speechDir = values.speech ?? (values.mini ? MINI_SPEECH_DIR : undefined);
    const videoDir = values.video ?? (values.mini ? MINI_VIDEO_DIR : undefined);
    const envDevice = env['HERD_DEVICE'];
    if (values.device === undefined && envDevice !== undefined && envDevice !== '' && !isDeviceRequest(envDevice)) {
      throw new UsageError(`HERD_DEVICE must be one of ${DEVICE_REQUESTS.join(', ')}, got '${envDevice}'`);
    }
    const request: DeviceRequest = values.device ?? (envDevice && isDeviceRequest(envDevice) ? envDevice : DEFAULT_DEVICE);
    const device = resolveDevice(request).device;
    const file = values.image ?? values.audio ?? values.clip;
    const fileBytes = file !== undefined ? readFileSync(file) : undefined;
    const base: LoadEngineOptions = {
      device,
      ...(values.model !== undefined ? { modelDir: values.model } : {}),
      ...(visionDir !== undefined ? { visionDir } : {}),
      ...(speechDir !== undefined ? { speechDir } : {}),
      ...(videoDir !== undefined ? { videoDir } : {}),
    };
    // Every --checkpoint folder is classified before anything loads, so a wrong one fails fast.
    const extra = values.checkpoint.map((dir) => ({ dir, ...checkpointEngineOptions(dir, base) }));
    const engine = await HerdEngine.load(base);
    const builtIn = values.model === undefined && [values.vision, values.speech, values.video].every((d) => d === undefined);
    const checkpoints: Checkpoint[] = [{ id: builtIn ? 'mini' : 'default', label: builtIn ? (values.mini ? 'built-in mini herd' : 'built-in mini core') : 'the model given by the flags', engine }];
    for (const c of extra) {
      const id = checkpointId(c.dir, new Set(checkpoints.map((x) => x.id)));
      checkpoints.push({ id, label: `${c.dir} (${c.kind})`, engine: await HerdEngine.load(c.options) });
    }
    const releaseAll = async (): Promise<void> => {
      for (const c of checkpoints) await (c.engine as HerdEngine).release();
    };
    const maxUploadBytes = Math.round(values['max-upload-mb'] * 1024 * 1024);
    const server = new ChatServer({
      engine,
      checkpoints,
      queueSize: values.queue,
      maxTokens: values['max-tokens'],
      requestTimeoutMs: Math.round(values.timeout * 1000),
      maxUploadBytes,
      maxBodyBytes: Math.ceil((maxUploadBytes * 4) / 3) + 64 * 1024,
    });
    const s = engine.status();
    const loaded = `core ${s.core.builtIn ? 'mini (built-in)' : s.core.dir}; ${s.vision ? `vision: ${s.vision.dir}` : 'vision: not loaded'}; ${s.speech ? `speech: ${s.speech.dir}` : 'speech: not loaded'}; ${s.video ? `video: ${s.video.dir}` : 'video: not loaded'}; device ${s.device}`;
    if (values.once) {
      const { url } = await server.listen(0, '127.0.0.1');
      try {
        process.stderr.write(`herd-chat: ${loaded}\n`);
        const reply = await postChat(url, {
          conversation: 'once',
          message: values.prompt ?? '',
          ...(fileBytes && file !== undefined ? { [values.image !== undefined ? 'image' : values.audio !== undefined ? 'audio' : 'video']: { name: basename(file), data: fileBytes.toString('base64') } } : {}),
        }, { onToken: (t) => process.stdout.write(t) });
        process.stdout.write('\n');
        const err = reply.json ?? reply.events.find((e) => e.event === 'error')?.data;
        if (err !== undefined) {
          const { code, message } = (err as { error: { code: string; message: string } }).error;
          throw new HerdError('invalid_argument', `${code}: ${message}`);
        }
        const done = reply.events.find((e) => e.event === 'done')?.data;
        process.stderr.write(`herd-chat: ${JSON.stringify(done)}\n`);
      } finally {
        await server.close();
        await releaseAll();
      }
      return 0;
    }
    const { url } = await server.listen(values.port, values.host);
    const others = checkpoints.slice(1).map((c) => `herd-chat: the page can switch to ${c.id}: ${c.label}\n`).join('');
    process.stdout.write(`herd-chat: ${loaded}\n${others}herd-chat: open ${url}\n`);
    const stop = (): void => {
      void server.close().then(releaseAll).finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return 0;
  } catch (e) {
    const hint = e instanceof UsageError ? " (see 'herd-chat --help')" : '';
    process.stderr.write(`${formatCommandError('herd-chat', e, verbose)}${hint}\n`);
    return exitCodeFor(e);
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
