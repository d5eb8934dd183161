import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iterateDataset, type Sample } from '@herd/data';
import { importDocumentFolder } from './import-documents.js';
import { documentCheck, turnsProblem } from './document.js';

const dir = mkdtempSync(join(tmpdir(), 'herd-import-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('importDocumentFolder', () => {
  it('records lines and files past the limits, and meta the format cannot hold, instead of stopping; keys stay unique and safe', async () => {
    const src = join(dir, 'in');
    mkdirSync(src);
    const deep = '['.repeat(100) + ']'.repeat(100);
    // A long line in the middle of a file bigger than one read chunk (64 KiB), so line ends straddle chunks.
    const filler = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ text: `document number ${i} is here` }));
    filler.splice(1000, 0, JSON.stringify({ text: 'x'.repeat(500) }), `{"text": "deep", "extra": ${deep}}`);
    writeFileSync(join(src, 'b.jsonl'), filler.join('\r\n'));
    writeFileSync(join(src, 'a b.txt'), 'x'.repeat(300));
    writeFileSync(join(src, 'a_b.md'), 'short');
    writeFileSync(join(src, 'skip.csv'), 'not read');
    expect(await importDocumentFolder(src, join(dir, 'ds'), { maxLineBytes: 400, maxFileBytes: 200, samplesPerShard: 1000 })).toBe(2004);
    const byKey = new Map<string, Sample>();
    for await (const s of iterateDataset(join(dir, 'ds'))) byKey.set(s.key, s as Sample);
    expect(byKey.size).toBe(2004);
    expect(byKey.get('a_b')!.meta).toEqual({ source: 'a b.txt', importError: 'a b.txt is 300 bytes (limit 200)' });
    expect(new TextDecoder().decode(byKey.get('a_b_2')!.files['txt'])).toBe('short');
    expect(byKey.get('b-1001')!.meta['importError']).toBe('b.jsonl:1001: a line of 512 bytes (limit 400)');
    expect(byKey.get('b-1002')!.meta['importError']).toMatch(/^b\.jsonl:1002: meta JSON is nested 101 levels deep \(limit 64\)$/);
    expect(new TextDecoder().decode(byKey.get('b-2002')!.files['txt'])).toBe('document number 1999 is here');
    // The document stage turns each record into a drop reason.
    const stage = documentCheck();
    const ctx = { shard: 's', pass: 0, worker: 0 };
    expect(await stage.process(byKey.get('b-1001')!, ctx)).toEqual({ keep: false, reason: 'unreadable_document: b.jsonl:1001: a line of 512 bytes (limit 400)' });
    expect((await stage.process(byKey.get('b-1')!, ctx)).keep).toBe(true);
  });

  it('turnsProblem names what the trainer would misread', () => {
    expect(turnsProblem([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }])).toBeUndefined();
    expect(turnsProblem('hi')).toBe('expected an array of {role, content}, got string');
    expect(turnsProblem([])).toBe('no turns');
    expect(turnsProblem([{ role: 'user', content: 3 }])).toBe('turn 1: content must be a string, got number');
    expect(turnsProblem([{ role: 'user', content: 'hi' }])).toBe('no assistant turn');
  });
});
