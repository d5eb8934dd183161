/**
 * What a `herd` command is: its words (`text train`, with older spellings kept as aliases), its
 * flags (parsed and checked by `@herd/core`'s one parser before anything runs), and a function that
 * gets the parsed values, the device resolved once, and where to write.
 */
import { type FlagSpecs, type FlagValues, type PositionalSpec, flag } from '@herd/core';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, type DeviceChoice, type DeviceRequest } from '@herd/runtime';

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
}

/** Flags every command takes. */
export const GLOBAL_FLAGS = {
  verbose: flag.boolean({ description: 'say which device and why; print stacks with errors' }),
  help: flag.boolean({ short: 'h', description: 'show this help' }),
} as const;

/** The frozen language core an adapter trains against (`loadLanguageCore(values.core)`; absent: the committed mini core). */
export const CORE_FLAG = {
  core: flag.string({ placeholder: 'DIR', description: 'the frozen language core to train against (default: the committed mini core, packages/llama3/weights/mini); a core trained with --init that core --keep-vocab has the same rows' }),
} as const;

/** The evals' --core: score an adapter fitted on a candidate core with that core (as its train command took it). */
export const EVAL_CORE_FLAG = {
  core: flag.string({ placeholder: 'DIR', description: 'the frozen language core to evaluate with (default: the committed mini core, packages/llama3/weights/mini): the one the adapter was trained against with --core' }),
} as const;

/** The device flag of commands that run a model; HERD_DEVICE is its fallback, then DEFAULT_DEVICE. */
export const DEVICE_FLAG = {
  device: flag.choice(DEVICE_REQUESTS, { description: `where ONNX Runtime runs; else HERD_DEVICE, else ${DEFAULT_DEVICE}` }),
} as const;

/** A device request and where it came from, for messages. */
export interface DeviceRequestFrom {
  readonly request: DeviceRequest;
  readonly source: '--device' | 'HERD_DEVICE' | 'default';
}

export interface Context<T extends FlagSpecs> {
  readonly values: FlagValues<T & typeof GLOBAL_FLAGS>;
  readonly positionals: readonly string[];
  /** The flags the user gave (the others in `values` are defaults): for a card's Re-train line. */
  readonly given: ReadonlySet<string>;
  readonly io: Io;
  readonly deviceRequest: DeviceRequestFrom;
  /** The device, resolved once before the command ran (for commands with `usesDevice`). */
  device(): DeviceChoice;
}

export interface Command<T extends FlagSpecs = FlagSpecs> {
  /** The words that name it: ['text', 'train']. */
  readonly words: readonly string[];
  /** Older spellings that keep working: [['train', 'text']]. */
  readonly aliases?: readonly (readonly string[])[];
  readonly summary: string;
  readonly flags: T;
  readonly positionals?: readonly PositionalSpec[];
  /** Resolve the device before `run` (an unavailable device fails before any model loads). */
  readonly usesDevice: boolean;
  /** Extra help text under the flag list. */
  readonly notes?: string;
  run(ctx: Context<T>): Promise<void>;
}

/** Keeps a command's flag types for its `run`, then stores it among commands of any flags. */
export function defineCommand<const T extends FlagSpecs>(c: Command<T>): Command {
  return c as unknown as Command;
}
