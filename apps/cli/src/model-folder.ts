/**
 * Checks a model folder before anything reads it for real, so a bad folder ends in one line that
 * names the file: a missing or empty config.json, one that is a directory or not JSON, and weights that are not regular files (a FIFO would make a read wait forever).
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HerdError, SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME, isRecord, readJsonFile, showValue } from '@herd/core';
import { type LanguageCore, type Llama3Tokenizer, checkVocabularyFits, loadLanguageCore, loadLlama3Tokenizer } from '@herd/llama3';

function kindOf(path: string): 'missing' | 'file' | 'directory' | 'fifo' | 'other' {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'missing';
  }
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/** Throws unless `path` is a regular file (symlinks followed). */
export function requireRegularFile(path: string, what: string): void {
  const kind = kindOf(path);
  if (kind === 'file') return;
  if (kind === 'missing') throw new HerdError('io_error', `${path}: no such file (${what})`);
  if (kind === 'directory') throw new HerdError('io_error', `${path} is a directory, not a file (${what})`);
  if (kind === 'fifo') throw new HerdError('io_error', `${path} is a FIFO (named pipe), not a regular file (${what}); reading it would wait for a writer`);
  throw new HerdError('io_error', `${path} is not a regular file (${what}); it may be a socket or a device`);
}

/** Reads a JSON object through the core config kit (a BOM is accepted); every way it can be wrong names the file. */
export function readJsonObject(path: string, what: string): Record<string, unknown> {
  requireRegularFile(path, what);
  const json = readJsonFile(path, { what, code: 'corrupt_data' });
  if (!isRecord(json)) {
    throw new HerdError('corrupt_data', `${path} must hold a JSON object (${what}), got ${Array.isArray(json) ? 'an array' : showValue(json)}`);
  }
  return json;
}

/**
 * A Hugging Face-layout Llama folder as herd writes and reads it: config.json, model.safetensors
 * or a sharded index with its shards, and the pruned vocabulary file config.json names.
 */
export function checkModelFolder(dir: string): void {
  const abs = resolve(dir);
  const kind = kindOf(abs);
  if (kind === 'missing') throw new HerdError('io_error', `no model folder at ${abs} (expected config.json + model.safetensors; train one with 'herd text train')`);
  if (kind !== 'directory') throw new HerdError('io_error', `${abs} is not a folder (--model names a model folder holding config.json + model.safetensors)`);
  const configPath = join(abs, 'config.json');
  if (kindOf(configPath) === 'missing') throw new HerdError('io_error', `${abs} has no config.json (expected a Hugging Face model folder: config.json + model.safetensors)`);
  const config = readJsonObject(configPath, 'the model config');
  const vocab = config['herd_vocab'];
  if (vocab !== undefined) {
    if (typeof vocab !== 'string') throw new HerdError('corrupt_data', `${configPath}: herd_vocab must be a file name, got ${JSON.stringify(vocab)}`);
    requireRegularFile(join(abs, vocab), `the pruned vocabulary named by config.json's herd_vocab`);
  }
  const index = join(abs, SAFETENSORS_INDEX_NAME);
  if (kindOf(index) !== 'missing') {
    const map = readJsonObject(index, 'the sharded checkpoint index')['weight_map'];
    if (typeof map !== 'object' || map === null) throw new HerdError('corrupt_data', `${index} has no weight_map object`);
    for (const shard of new Set(Object.values(map as Record<string, unknown>).map(String))) requireRegularFile(join(abs, shard), `a shard named by ${SAFETENSORS_INDEX_NAME}`);
    return;
  }
  const single = join(abs, SAFETENSORS_SINGLE_NAME);
  if (kindOf(single) === 'missing') throw new HerdError('io_error', `${abs} holds neither ${SAFETENSORS_SINGLE_NAME} nor ${SAFETENSORS_INDEX_NAME}`);
  requireRegularFile(single, 'the model weights');
}

/**
 * The language core a command runs: the folder checked first, the config's warnings printed, and
 * the vocabulary checked against the tokenizer before any ONNX Runtime session exists.
 */
export async function openLanguageCore(dir: string, stderr: NodeJS.WritableStream): Promise<{ core: LanguageCore; tok: Llama3Tokenizer }> {
  checkModelFolder(dir);
  const core = loadLanguageCore(dir);
  for (const w of core.warnings) stderr.write(`herd: warning: ${w}\n`);
  const tok = await loadLlama3Tokenizer();
  checkVocabularyFits(core.dir, tok.numIds, core.config.vocabSize, core.vocab);
  return { core, tok };
}
