/** Runs every hostile-file table: each case ends in a HerdError naming the file and the problem, or a documented acceptance. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHerdError } from '@herd/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type HostileTable, isRefusal } from './cases.js';
import { CONFIG_CASES, MODEL_FOLDER_CASES } from './config-cases.js';
import { SAFETENSORS_CASES } from './safetensors-cases.js';

const root = mkdtempSync(join(tmpdir(), 'herd-hostile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function runTable<T>(table: HostileTable<T>): void {
  describe(`hostile ${table.reader}`, () => {
    table.cases.forEach((c, i) => {
      const title = isRefusal(c.expect) ? `${c.name}: refused (${c.expect.code})` : `${c.name}: accepted — ${c.expect.accept}`;
      it(title, (ctx) => {
        const dir = join(root, `${table.reader.replace(/\W+/g, '-')}-${i}`);
        const built = c.build(mkdtempSync(`${dir}-`));
        if (built === undefined) return ctx.skip();
        let result: unknown;
        let error: unknown;
        try {
          result = table.read(built.input);
        } catch (e) {
          error = e;
        }
        if (isRefusal(c.expect)) {
          expect(isHerdError(error, c.expect.code), `expected HerdError(${c.expect.code}), got ${String(error)}${error instanceof Error ? `\n${error.stack}` : ''}`).toBe(true);
          const message = (error as Error).message;
          expect(message, 'the message names the file').toContain(built.names);
          for (const s of c.expect.says) expect(message).toMatch(typeof s === 'string' ? new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : s);
        } else {
          expect(error, `accepted on purpose, but threw: ${String(error)}`).toBeUndefined();
          c.expect.check?.(result);
        }
      });
    });
  });
}

runTable(SAFETENSORS_CASES);
runTable(CONFIG_CASES);
runTable(MODEL_FOLDER_CASES);
