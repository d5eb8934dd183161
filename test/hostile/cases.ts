/**
 * The hostile-file suite's shared shape: one table of cases per reader. Each case builds its bad file
 * (or folder) in a fresh temp dir — nothing large is committed — and says what the reader must do:
 * fail with a HerdError whose message names the file and the specific problem, or accept the file
 * (a documented acceptance, with the reason and a check of what was accepted).
 *
 * To add a reader's cases: write `<reader>-cases.ts` exporting a `HostileTable`, and list it in
 * `hostile.test.ts` (and `make.ts`). Shard, image, audio and video readers add their tables the same way.
 */
import { type HerdErrorCode } from '@herd/core';

export interface Refusal {
  readonly code: HerdErrorCode;
  /** Every fragment must occur in the message (the problem in words; the file is checked separately). */
  readonly says: readonly (string | RegExp)[];
}

export interface Acceptance {
  /** Why accepting is right; shown in the test name and make.ts's listing. */
  readonly accept: string;
  /** Checks what the reader returned (node:assert, so make.ts can load the tables outside vitest). */
  readonly check?: (result: unknown) => void;
}

export interface HostileCase<Target = string> {
  readonly name: string;
  /** Writes the hostile input under `dir` and returns what the reader is given plus the file its errors must name. */
  readonly build: (dir: string) => { readonly input: Target; readonly names: string } | undefined;
  readonly expect: Refusal | Acceptance;
}

export interface HostileTable<Target = string> {
  readonly reader: string;
  /** Runs the reader on one built input. */
  readonly read: (input: Target) => unknown;
  readonly cases: readonly HostileCase<Target>[];
}

export function isRefusal(e: Refusal | Acceptance): e is Refusal {
  return 'code' in e;
}
