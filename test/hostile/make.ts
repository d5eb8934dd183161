/**
 * Writes every hostile case to a folder, to inspect by hand or to feed to another tool:
 *
 *   npx tsx --conditions=source test/hostile/make.ts [out/hostile]
 *
 * One sub-folder per case (`<reader>/<nn>-<name>/`), and `cases.txt` listing what herd must do with each.
 * The test suite builds the same cases itself in a temp dir; nothing here is committed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HostileTable, isRefusal } from './cases.js';
import { CONFIG_CASES, MODEL_FOLDER_CASES } from './config-cases.js';
import { SAFETENSORS_CASES } from './safetensors-cases.js';

const out = resolve(process.argv[2] ?? 'out/hostile');
const lines: string[] = [];
const tables: HostileTable<unknown>[] = [SAFETENSORS_CASES, CONFIG_CASES, MODEL_FOLDER_CASES] as HostileTable<unknown>[];
for (const table of tables) {
  table.cases.forEach((c, i) => {
    const dir = join(out, table.reader.replace(/\W+/g, '-'), `${String(i).padStart(2, '0')}-${c.name.replace(/\W+/g, '-').slice(0, 60)}`);
    mkdirSync(dir, { recursive: true });
    const built = c.build(dir);
    const what = isRefusal(c.expect) ? `refused: HerdError(${c.expect.code}) saying ${c.expect.says.map(String).join(' / ')}` : `accepted: ${c.expect.accept}`;
    lines.push(`${table.reader}\t${c.name}\t${built === undefined ? '(not buildable here)' : built.names}\t${what}`);
  });
}
writeFileSync(join(out, 'cases.txt'), lines.join('\n') + '\n');
console.log(`${lines.length} hostile cases written under ${out}`);
