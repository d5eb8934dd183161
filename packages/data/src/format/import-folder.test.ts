import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { curationInput } from './import-folder.js';

describe('curationInput', () => {
  const root = mkdtempSync(join(tmpdir(), 'herd-curation-input-'));
  const folder = join(root, 'plain');
  mkdirSync(folder);
  let imports = 0;
  const importFolder = async (_from: string, to: string) => { imports++; mkdirSync(to, { recursive: true }); writeFileSync(join(to, 'manifest.json'), '{}'); };

  it('imports a plain folder once beside the output and reuses the import on a re-run', async () => {
    const out = join(root, 'out');
    expect(await curationInput(folder, `${out}/`, 'test curate', importFolder)).toBe(`${out}.import`);
    expect(await curationInput(folder, out, 'test curate', importFolder)).toBe(`${out}.import`);
    expect(imports).toBe(1);
  });

  it('names the input that is not a folder, and an import path taken by a file', async () => {
    await expect(curationInput(join(root, 'missing'), join(root, 'o1'), 'test curate', importFolder)).rejects.toThrow(/test curate: input .*missing is not a folder/);
    writeFileSync(join(root, 'o2.import'), 'a file');
    await expect(curationInput(folder, join(root, 'o2'), 'test curate', importFolder)).rejects.toThrow(/o2\.import \(where the folder .*plain is imported as shards\) exists and is not a folder/);
  });
});
