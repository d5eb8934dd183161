/**
 * `herd generate`: continue a prompt (or answer a chat message) with a language core; with
 * `--image` the prompt is a chat message about the images, answered through the vision adapter;
 * with `--video` it is about a clip, answered through the video adapter on top of the image model.
 */
import { UsageError, flag } from '@herd/core';
import { EOT_ID, END_OF_TEXT_ID, Generator, MINI_CORE_DIR, buildDecoder } from '@herd/llama3';
import { MINI_VISION_DIR, VisionGenerator, imageQuestionIds, loadMiniVision, preprocessImage } from '@herd/vision';
import { MINI_VIDEO_DIR, VideoGenerator, loadMiniVideo, readClipFrames, videoImageDir } from '@herd/video';
import { JOINT_CTC_BEAM, JOINT_CTC_WEIGHT } from '@herd/speech';
import { DEVICE_FLAG, defineCommand } from '../command.js';
import { openLanguageCore } from '../model-folder.js';
import { generateFromAudio } from './speech.js';
import { PROMPT_ARG_MAX_BYTES, PROMPT_TOO_LONG_HINT, readPrompt } from '../prompt.js';

export const MODEL_FLAG = {
  model: flag.string({ placeholder: 'DIR', description: `a Hugging Face-layout Llama folder (default: the built-in mini core)` }),
} as const;

export const generateCommand = defineCommand({
  words: ['generate'],
  summary: 'continue a prompt, or answer it as a chat message (--chat)',
  usesDevice: true,
  flags: {
    prompt: flag.string({ description: "the prompt ('-': read it from standard input)", maxBytes: PROMPT_ARG_MAX_BYTES, tooLong: PROMPT_TOO_LONG_HINT }),
    'prompt-file': flag.string({ placeholder: 'FILE', description: "read the prompt from a file ('-': standard input)" }),
    chat: flag.boolean({ description: 'wrap the prompt as a user message in the Llama 3 chat template' }),
    image: flag.string({ placeholder: 'FILE', multiple: true, description: 'an image the prompt asks about (repeatable; implies --chat; uses the vision adapter)' }),
    vision: flag.string({ placeholder: 'DIR', description: 'the vision checkpoint for --image (default: the built-in mini one, packages/vision/weights/mini); with --video only for a video checkpoint that records no image.dir (default: the video model\'s own, packages/video/weights/mini-image)' }),
    video: flag.string({ placeholder: 'FILE', description: 'a clip the prompt asks about (implies --chat; uses the video adapter; not with --image)' }),
    'video-checkpoint': flag.string({ placeholder: 'DIR', description: 'the video checkpoint for --video (default: the built-in mini one, packages/video/weights/mini)' }),
    audio: flag.string({ placeholder: 'FILE', description: 'an audio file (WAV/FLAC/MP3/OGG/M4A) to transcribe, or a spoken question answered after the --prompt text (uses the speech adapter)' }),
    speech: flag.string({ placeholder: 'DIR', description: 'the speech checkpoint for --audio (default: the built-in mini one, packages/speech/weights/mini)' }),
    'joint-ctc': flag.number({ min: 0, max: 1, default: JOINT_CTC_WEIGHT, description: `transcribing --audio (no --prompt): weight of the speech checkpoint's CTC head in joint decoding with the core, by beam search (chosen on validation data; the chat decodes the same way; 0 = the core decodes alone, with --temperature)` }),
    beam: flag.integer({ min: 1, max: 64, default: JOINT_CTC_BEAM, description: 'beam width of the --joint-ctc decoding (1 = greedy)' }),
    'transcribe-first': flag.boolean({ description: 'with --audio and --prompt: transcribe the spoken question first (joint CTC decoding; what was heard goes to stderr), then the core answers the --prompt text + that transcript in text — a two-pass cascade, better than the audio spliced in with the mini herd (held-out spoken QA graded by type 79.5% vs 56.4%; packages/speech/weights/mini/MODEL_CARD.md)' }),
    ...MODEL_FLAG,
    'max-tokens': flag.integer({ min: 1, default: 64, description: 'tokens to generate at most' }),
    temperature: flag.number({ min: 0, default: 0, description: '0 = greedy' }),
    'top-p': flag.number({ above: 0, max: 1, default: 1, description: 'nucleus sampling mass' }),
    seed: flag.integer({ min: 0, max: 0xffff_ffff, default: 0, description: 'sampling seed' }),
    ...DEVICE_FLAG,
  },
  async run({ values, io, device }) {
    if (values.audio !== undefined) return generateFromAudio(values, io, device().device);
    const prompt = await readPrompt({ prompt: values.prompt, promptFile: values['prompt-file'] }, io);
    const dir = values.model ?? MINI_CORE_DIR;
    const { core, tok } = await openLanguageCore(dir, io.stderr);
    const images = values.image;
    const chat = values.chat || images.length > 0;
    const vision = images.length > 0 ? loadMiniVision(values.vision ?? MINI_VISION_DIR, core) : undefined;
    if (vision?.coreMatches === false) io.stderr.write(`warning: the vision checkpoint ${vision.dir} was trained against another core than ${core.dir}; re-train or re-measure it there\n`);
    // Every image is decoded and tiled before any model is built, so a bad file fails fast, by name.
    const tiled = vision ? await Promise.all(images.map((f) => preprocessImage(f, vision.config.vision))) : [];
    const toModel = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toCompact(ids)) : [...ids]);
    const toFull = (ids: readonly number[]) => (core.vocab ? Array.from(core.vocab.toFull(ids)) : [...ids]);
    const stops = toModel([EOT_ID, END_OF_TEXT_ID]);
    const sampling = { maxNewTokens: values['max-tokens'], temperature: values.temperature, topP: values['top-p'], seed: values.seed, stopTokens: stops };
    const stream = tok.streamDecoder();
    if (values.video !== undefined) {
      if (images.length > 0) throw new UsageError('--video and --image cannot be combined (one clip, or images)');
      const videoDir = values['video-checkpoint'] ?? MINI_VIDEO_DIR;
      const v = loadMiniVideo(videoDir, videoImageDir(videoDir, values.vision), core); // its own image model; --vision only for a checkpoint that records none (default MINI_VIDEO_IMAGE_DIR)
      if (!v.imageMatches) io.stderr.write(`warning: the video checkpoint ${v.dir} was trained on another image checkpoint\n`);
      if (v.vision.coreMatches === false) io.stderr.write(`warning: the image checkpoint ${v.vision.dir} was trained against another core than ${core.dir}; re-train or re-measure it there\n`);
      const clip = await readClipFrames(values.video, v.config.image, v.config.video.finetune.frames);
      const gen = VideoGenerator.create(v.config, v.config.video.finetune, core.weights, v.vision.weights, v.weights, { device: device().device });
      try {
        const out = await gen.complete(imageQuestionIds(tok, core, v.config.image, prompt), await gen.contextOfFrames(clip), sampling);
        const end = out.findIndex((t) => stops.includes(t));
        io.stdout.write(stream.push(toFull(end < 0 ? out : out.slice(0, end))) + stream.flush() + '\n');
      } finally {
        await gen.release();
      }
      return;
    }
    if (vision) {
      const gen = VisionGenerator.create(vision.config, core.weights, vision.weights, { device: device().device });
      try {
        const out = await gen.complete(imageQuestionIds(tok, core, vision.config, prompt, tiled.length), tiled, sampling);
        const end = out.findIndex((t) => stops.includes(t));
        io.stdout.write(stream.push(toFull(end < 0 ? out : out.slice(0, end))) + stream.flush() + '\n');
      } finally {
        await gen.release();
      }
      return;
    }
    const full = chat ? tok.encodeChat([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : tok.encode(prompt, { bos: true });
    const gen = await Generator.create(core.config, buildDecoder(core.config, core.weights), { device: device().device });
    try {
      if (!chat) io.stdout.write(prompt);
      for await (const id of gen.generate(toModel(full), sampling)) {
        if (stops.includes(id)) break;
        io.stdout.write(stream.push(toFull([id])));
      }
      io.stdout.write(stream.flush() + '\n');
    } finally {
      await gen.release();
    }
  },
});
