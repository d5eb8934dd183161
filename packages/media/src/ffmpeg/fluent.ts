/**
 * The one module that imports fluent-ffmpeg. Its upstream repository was archived in 2025: keep its
 * use to this file (one function) so it can be swapped for a direct spawn without touching callers.
 * Every call has a timeout and an AbortSignal; the ffmpeg process is killed and reaped before the
 * promise settles.
 */
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { HerdError } from '@herd/core';
import { DEFAULT_FFMPEG_TIMEOUT_MS, type ToolCallOptions } from './process.js';

export interface ExtractSpec {
  readonly input: string;
  readonly inputOptions?: readonly string[];
  /** Output options (stream maps, filters, codec), before the format. */
  readonly outputOptions: readonly string[];
  /** Raw output muxer: 'rawvideo', 'f32le', … */
  readonly format: string;
}

/** Runs ffmpeg on a file and returns everything it writes to its output pipe. */
export function extractRaw(ffmpegBin: string, spec: ExtractSpec, opts: ToolCallOptions = {}): Promise<Uint8Array> {
  const label = opts.label ?? spec.input;
  if (opts.signal?.aborted === true) return Promise.reject(new HerdError('runtime_error', `${label}: ffmpeg aborted before it started`, { cause: opts.signal.reason }));
  const maxOut = opts.maxOutputBytes ?? 2 ** 31;
  return new Promise<Uint8Array>((resolve, reject) => {
    const cmd = ffmpeg(spec.input)
      .setFfmpegPath(ffmpegBin)
      .inputOptions(['-hide_banner', '-loglevel', 'error', '-nostdin', ...(spec.inputOptions ?? [])])
      .outputOptions([...spec.outputOptions])
      .format(spec.format);
    // fluent-ffmpeg treats the output stream's 'close' as the end of the run: 20 ms later, if ffmpeg's
    // exit has not arrived, it kills ffmpeg and reports "Output stream closed" — on a loaded machine,
    // for a clip that decoded fine. A sink that never emits 'close' leaves the verdict to ffmpeg's
    // exit, which fluent-ffmpeg reports once the process and its pipes are done.
    const sink = new PassThrough({ emitClose: false });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let failure: HerdError | undefined;
    let started = false;
    let settled = false;
    let processDone = false;
    let sinkDone = false;
    let stderrTail = '';
    const kill = (why: HerdError): void => {
      failure ??= why;
      if (started) cmd.kill('SIGKILL'); // else killed on 'start' below
    };
    const timeoutMs = opts.timeoutMs ?? DEFAULT_FFMPEG_TIMEOUT_MS;
    const timer = setTimeout(() => kill(new HerdError('runtime_error', `${label}: ffmpeg timed out after ${timeoutMs} ms and was killed`)), timeoutMs);
    const onAbort = (): void => kill(new HerdError('runtime_error', `${label}: ffmpeg aborted`, { cause: opts.signal?.reason }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (err?: HerdError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(new Uint8Array(Buffer.concat(chunks)));
    };
    const maybeDone = (): void => {
      if (processDone && sinkDone) finish(failure);
    };
    sink.on('data', (b: Buffer) => {
      bytes += b.length;
      if (bytes > maxOut) kill(new HerdError('invalid_argument', `${label}: decoded output over ${maxOut} bytes; refused`));
      else chunks.push(b);
    });
    sink.on('end', () => {
      sinkDone = true;
      maybeDone();
    });
    cmd.on('start', () => {
      started = true;
      if (failure !== undefined) cmd.kill('SIGKILL');
    });
    cmd.on('stderr', (line: string) => {
      if (stderrTail.length < 4000) stderrTail += `${line}\n`;
    });
    cmd.on('end', () => {
      processDone = true;
      maybeDone();
    });
    cmd.on('error', (e: Error, _stdout: string | null, stderr: string | null) => {
      // fluent-ffmpeg reports a process error after the process has exited.
      processDone = true;
      sinkDone = true;
      // ffmpeg exiting non-zero on a readable, probed file means it could not decode it.
      failure ??= new HerdError('corrupt_data', `${label}: ffmpeg could not decode it: ${lastLines(stderr ?? stderrTail) || e.message}`, { cause: e });
      finish(failure);
    });
    cmd.pipe(sink, { end: true });
  });
}

function lastLines(s: string): string {
  return s.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
}
