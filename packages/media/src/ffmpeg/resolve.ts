/**
 * Finding ffmpeg and ffprobe. Order: an explicit path (apps read FFMPEG_BIN / FFPROBE_BIN and pass
 * it down), then `ffmpeg-static`'s binary only if that optional package is installed and its file
 * exists (its install step downloads the binary, which fails without a network, so it is often
 * absent), then the binary on the system PATH (Debian's `ffmpeg` package ships both).
 * ffmpeg-static has no ffprobe: ffprobe is looked for beside the resolved ffmpeg, then on PATH.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { HerdError } from '@herd/core';

export interface ResolveToolOptions {
  /** Explicit ffmpeg binary (the app's FFMPEG_BIN). */
  readonly ffmpeg?: string;
  /** Explicit ffprobe binary (the app's FFPROBE_BIN). */
  readonly ffprobe?: string;
  /** Folders to search, PATH-style (default: this process's PATH, as spawn itself would). */
  readonly searchPath?: string;
  /** Try the optional ffmpeg-static package (default true; tests turn it off). */
  readonly useFfmpegStatic?: boolean;
}

const INSTALL_HINT =
  'install Debian\'s ffmpeg (apt-get install ffmpeg), or the optional npm package ffmpeg-static with network access, or pass the path (apps: FFMPEG_BIN / FFPROBE_BIN)';

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

function onPath(tool: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath ?? process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isFile(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function explicit(path: string | undefined, what: string): string | undefined {
  if (path === undefined || path === '') return undefined;
  if (!isFile(path)) throw new HerdError('tool_missing', `${what} was set to ${path}, but no file is there; ${INSTALL_HINT}`);
  return path;
}

function ffmpegStatic(): string | undefined {
  try {
    const path = (createRequire(import.meta.url)('ffmpeg-static' as string) as string | null) ?? '';
    return path !== '' && existsSync(path) ? path : undefined;
  } catch {
    return undefined; // not installed: the normal case offline
  }
}

export function resolveFfmpeg(opts: ResolveToolOptions = {}): string {
  const found = explicit(opts.ffmpeg, 'ffmpeg') ?? (opts.useFfmpegStatic === false ? undefined : ffmpegStatic()) ?? onPath('ffmpeg', opts.searchPath);
  if (found === undefined) throw new HerdError('tool_missing', `ffmpeg not found; ${INSTALL_HINT}`);
  return found;
}

export function resolveFfprobe(opts: ResolveToolOptions = {}): string {
  const given = explicit(opts.ffprobe, 'ffprobe');
  if (given !== undefined) return given;
  let beside: string | undefined;
  try {
    const ff = resolveFfmpeg(opts);
    if (isFile(join(dirname(ff), 'ffprobe'))) beside = join(dirname(ff), 'ffprobe');
  } catch {
    // fall through to PATH
  }
  const found = beside ?? onPath('ffprobe', opts.searchPath);
  if (found === undefined) throw new HerdError('tool_missing', `ffprobe not found; ${INSTALL_HINT}`);
  return found;
}
