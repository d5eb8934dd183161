/**
 * The `herd` command line: finds the command from its words, parses and checks every flag before
 * anything runs, resolves the device once (from --device, else HERD_DEVICE, else the default), runs
 * the command, and turns any error into one line `herd: <code>: <message>` on stderr. Returns the
 * exit status (0 ok, 1 error, 2 usage) instead of exiting, so tests can call it.
 */
import { type FlagSpecs, UsageError, describeFlags, exitCodeFor, formatCommandError, parseCommandLine } from '@herd/core';
import { DEFAULT_DEVICE, DEVICE_REQUESTS, type DeviceChoice, isDeviceRequest, resolveDevice, setDefaultThreads } from '@herd/runtime';
import { type Command, type DeviceRequestFrom, GLOBAL_FLAGS, type Io } from './command.js';
import { chatCommand } from './commands/chat.js';
import { curateWorkerCommand } from './commands/curate-worker.js';
import { evalTextCommand } from './commands/eval-text.js';
import { freezeTextCommand } from './commands/freeze-text.js';
import { exportCommand, speechExportCommand, textExportCommand, videoExportCommand, visionExportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { infoCommand } from './commands/info.js';
import { trainTextCommand } from './commands/train-text.js';
import { speechCurateCommand } from './commands/speech-curate.js';
import { textCurateCommand } from './commands/text-curate.js';
import { videoCurateCommand } from './commands/video-curate.js';
import { visionCurateCommand } from './commands/vision-curate.js';
import { visionEvalCommand, visionTrainCommand } from './commands/vision.js';
import { videoEvalCommand, videoTrainCommand } from './commands/video.js';
import { speechEvalCommand, speechTrainCommand } from './commands/speech.js';

/**
 * Commands grow as `herd <text|vision|video|speech> <curate|train|eval|export>`; only those that
 * exist are listed.
 */
export const COMMANDS: readonly Command[] = [generateCommand, chatCommand, trainTextCommand, evalTextCommand, freezeTextCommand, textCurateCommand, textExportCommand, visionTrainCommand, visionEvalCommand, visionCurateCommand, visionExportCommand, speechTrainCommand, speechEvalCommand, speechCurateCommand, speechExportCommand, videoTrainCommand, videoEvalCommand, videoCurateCommand, videoExportCommand, curateWorkerCommand, exportCommand, infoCommand];

function usageLine(c: Command): string {
  const pos = (c.positionals ?? []).map((p) => (p.optional ? `[${p.name}]` : p.name)).join(' ');
  return `herd ${c.words.join(' ')}${pos ? ` ${pos}` : ''} [flags]`;
}

export const USAGE = `herd — a frozen Llama 3 with eyes and ears, in TypeScript

usage:
${COMMANDS.map((c) => `  ${usageLine(c).padEnd(32)} ${c.summary}`).join('\n')}

  herd <command> --help            the command's flags, with what each allows and its default
  Older spellings still work: ${COMMANDS.flatMap((c) => (c.aliases ?? []).map((a) => `herd ${a.join(' ')}`)).join(', ')}.

Device: --device ${DEVICE_REQUESTS.join('|')} or HERD_DEVICE (default ${DEFAULT_DEVICE}); --verbose says which and why.
Threads: HERD_THREADS=N caps the CPU threads of each ONNX Runtime session (default: every core).
Long prompts: --prompt-file FILE or --prompt - (standard input).
Errors: one line 'herd: <code>: <message>' on stderr; exit status 1 (2 for a usage mistake); --verbose adds the stack.`;

function helpFor(c: Command): string {
  return `usage: ${usageLine(c)}\n${c.summary}\n\n${describeFlags({ ...c.flags, ...GLOBAL_FLAGS })}${c.notes ? `\n\n${c.notes}` : ''}`;
}

/** The longest word sequence that names a command (or alias) at the start of argv. */
function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  for (const command of COMMANDS) {
    for (const words of [command.words, ...(command.aliases ?? [])]) {
      if (words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(words.length) };
    }
  }
  return undefined;
}

/** --device, else HERD_DEVICE, else the default; an invalid value is a usage error listing the choices. */
function deviceRequestFrom(flagValue: string | undefined, env: NodeJS.ProcessEnv): DeviceRequestFrom {
  if (flagValue !== undefined && isDeviceRequest(flagValue)) return { request: flagValue, source: '--device' };
  const fromEnv = env['HERD_DEVICE'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isDeviceRequest(fromEnv)) throw new UsageError(`HERD_DEVICE must be one of ${DEVICE_REQUESTS.join(', ')}, got '${fromEnv}'`);
    return { request: fromEnv, source: 'HERD_DEVICE' };
  }
  return { request: DEFAULT_DEVICE, source: 'default' };
}

/** HERD_THREADS: CPU threads per ONNX Runtime session (default every core); anything but a positive integer is a usage error. */
function threadsFrom(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env['HERD_THREADS'];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`HERD_THREADS must be a positive integer (CPU threads per session), got '${raw}'`);
  return n;
}

export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const verbose = argv.includes('--verbose');
  let helpHint = 'herd --help';
  try {
    if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const found = findCommand(argv);
    if (found === undefined) {
      const group = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === argv[0]);
      if (group.length > 0) throw new UsageError(`'herd ${argv[0]}' needs one of: ${group.map((c) => c.words.slice(1).join(' ')).join(', ')}${argv[1] !== undefined && !argv[1].startsWith('-') ? ` (got '${argv[1]}')` : ''}`);
      const known = COMMANDS.map((c) => `'${c.words.join(' ')}'`).join(', ');
      throw new UsageError(`unknown command '${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}'; commands: ${known}`);
    }
    const { command, rest } = found;
    helpHint = `herd ${command.words.join(' ')} --help`;
    // Help first: a command's required arguments must not stand between a user and its help.
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`${helpFor(command)}\n`);
      return 0;
    }
    const flags: FlagSpecs = { ...command.flags, ...GLOBAL_FLAGS };
    const { values, positionals, given } = parseCommandLine(rest, flags, command.positionals ?? []);
    setDefaultThreads(threadsFrom(env));
    const deviceRequest = deviceRequestFrom(typeof values['device'] === 'string' ? values['device'] : undefined, env);
    // Resolved once, before any model loads; commands pass the resolved device down.
    let choice: DeviceChoice | undefined;
    if (command.usesDevice) {
      choice = resolveDevice(deviceRequest.request);
      if (verbose) io.stderr.write(`herd: device ${choice.device} (${deviceRequest.request} from ${deviceRequest.source}: ${choice.reason})\n`);
    }
    await command.run({
      values: values as never,
      positionals,
      given,
      io,
      deviceRequest,
      device: () => (choice ??= resolveDevice(deviceRequest.request)),
    });
    return 0;
  } catch (e) {
    const hint = e instanceof UsageError ? ` (see '${helpHint}')` : '';
    io.stderr.write(`${formatCommandError('herd', e, verbose)}${verbose ? '' : hint}\n`);
    return exitCodeFor(e);
  }
}
