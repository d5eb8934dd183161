/**
 * The first text-curation stage: is the sample a document the language core can read? Drops what
 * the folder import could not turn into one (`unreadable_document: <what>`), a sample with no text
 * (`missing_document`), and a dialogue whose `meta.turns` the trainer would misread
 * (`bad_turns: turn 2: role "bot" (valid: system, user, assistant)`).
 */
import { isRecord } from '@herd/core';
import { drop, keep, type SampleStage } from '@herd/data';
import { IMPORT_ERROR_FIELD } from './import-documents.js';

const ROLES = ['system', 'user', 'assistant'] as const;

/** What is wrong with a dialogue's turns, or undefined when the trainer can render them. */
export function turnsProblem(turns: unknown): string | undefined {
  if (!Array.isArray(turns)) return `expected an array of {role, content}, got ${typeof turns}`;
  if (turns.length === 0) return 'no turns';
  for (let i = 0; i < turns.length; i++) {
    const t: unknown = turns[i];
    if (!isRecord(t)) return `turn ${i + 1}: expected {role, content}, got ${Array.isArray(t) ? 'an array' : typeof t}`;
    if (!(ROLES as readonly unknown[]).includes(t['role'])) return `turn ${i + 1}: role ${JSON.stringify(t['role'])} (valid: ${ROLES.join(', ')})`;
    if (typeof t['content'] !== 'string') return `turn ${i + 1}: content must be a string, got ${typeof t['content']}`;
  }
  if (!turns.some((t) => isRecord(t) && t['role'] === 'assistant')) return 'no assistant turn';
  return undefined;
}

export function documentCheck(options: { name?: string } = {}): SampleStage {
  return {
    kind: 'sample',
    name: options.name ?? 'document',
    version: '1',
    process(sample) {
      const err = sample.meta[IMPORT_ERROR_FIELD];
      if (err !== undefined) return drop(`unreadable_document: ${String(err)}`);
      if (sample.files['txt'] === undefined) return drop('missing_document: no .txt file');
      if (sample.meta['turns'] !== undefined) {
        const problem = turnsProblem(sample.meta['turns']);
        if (problem) return drop(`bad_turns: ${problem}`);
      }
      return keep(sample);
    },
  };
}
