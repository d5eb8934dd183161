/** Runs the `herd` command in-process for tests, capturing what it writes (one copy for every CLI test). */
import { Readable, Writable } from 'node:stream';
import { runCli } from '../cli.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** `herd argv…` with the given environment and stdin; its exit code and what it printed. */
export async function herd(argv: string[], o: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = Readable.from(o.stdin !== undefined ? [Buffer.from(o.stdin)] : []);
  const code = await runCli(argv, o.env ?? {}, { stdout, stderr, stdin });
  return { code, out: stdout.text, err: stderr.text };
}
