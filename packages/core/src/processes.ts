/**
 * Starting and stopping helper processes for tests and benches: a free loopback port for a server
 * (redis-server, the chat server), a child that counts as started once it prints a marker, and a
 * signal sent to it with a wait for how it ended (the kill-and-resume tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartedProcess {
  readonly proc: ChildProcess;
  /** Everything the child has printed on stdout so far. */
  out(): string;
}

/**
 * Spawns `cmd args` (environment: this process's plus `env`) and resolves once its stdout contains
 * `marker`; rejects with what it printed if it exits first.
 */
export function spawnUntil(cmd: string, args: readonly string[], marker: string, env: NodeJS.ProcessEnv = {}): Promise<StartedProcess> {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(marker)) resolve({ proc, out: () => out });
    });
    proc.on('exit', (code) => reject(new Error(`${cmd} exited (${code}) before printing "${marker}":\n${out}\n${err}`)));
  });
}

/**
 * Sends `signal` to a child and resolves, once its output streams have closed (so everything it
 * printed has been read), with how it ended: the signal's name, or its exit code if it caught the
 * signal and exited itself.
 */
export function stopChild(proc: ChildProcess, signal: NodeJS.Signals): Promise<NodeJS.Signals | number | null> {
  const ended = new Promise<NodeJS.Signals | number | null>((resolve) => proc.once('close', (code, sig) => resolve(sig ?? code)));
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  return ended;
}
