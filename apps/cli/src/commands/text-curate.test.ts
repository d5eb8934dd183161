import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iterateDataset, readDataset, writeDataset } from '@herd/data';
import { generateWorld } from '@herd/datasets';
import { herd } from '../test-support/run-herd.js';



const dir = mkdtempSync(join(tmpdir(), 'herd-text-curate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DOC = 'The small red circle sits above the large blue square, and a green star moves slowly from the left edge of the picture towards the right edge while the yellow triangle stays where it is.';

async function drops(out: string): Promise<Map<string, string>> {
  const lines = readFileSync(join(out, 'drops.jsonl'), 'utf8').trim().split('\n');
  return new Map(lines.map((l) => JSON.parse(l) as { key: string; reason: string }).map((d) => [d.key, d.reason]));
}

describe('herd text curate', () => {
  it('curates a folder of .txt/.md/.jsonl documents, dropping bad input with reasons (non-UTF-8, empty, a megabyte line, wrong language, bad turns, duplicates)', async () => {
    const src = join(dir, 'docs');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), DOC);
    writeFileSync(join(src, 'b.txt'), Buffer.from([0x54, 0x68, 0x65, 0x20, 0xff, 0xfe, 0x20, 0x63, 0x61, 0x74]));
    writeFileSync(join(src, 'c.txt'), '');
    writeFileSync(join(src, 'd.txt'), `${'word '.repeat(180_000)}\n`); // a 0.9 MB line
    writeFileSync(join(src, 'e.md'), DOC); // the same bytes as a.txt
    const lines = [
      JSON.stringify({ id: 'dialogue', turns: [{ role: 'user', content: 'What colour is the circle?' }, { role: 'assistant', content: 'The circle is red.' }] }),
      '{"text": "not closed',
      JSON.stringify({ text: 'Le petit cercle rouge est au-dessus du grand carré bleu, et une étoile verte se déplace lentement.', language: 'en' }),
      JSON.stringify({ turns: [{ role: 'bot', content: 'hello there' }] }),
      JSON.stringify({ text: DOC.replace(/is\.$/, 'was.') }), // the last word changed: 30 of 32 word 5-shingles shared with a.txt
      '   ',
      '[1, 2]',
      JSON.stringify({ text: 'Der kleine rote Kreis liegt über dem großen blauen Quadrat und ein grüner Stern bewegt sich.', language: 'de' }),
    ];
    writeFileSync(join(src, 'more.jsonl'), Buffer.concat([Buffer.from(`${lines.join('\n')}\n`), Buffer.from([0x7b, 0xff, 0x7d, 0x0a])])); // line 9: not UTF-8
    const out = join(dir, 'out');
    const r = await herd(['text', 'curate', src, out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // 5 files + 8 non-blank lines.
    expect(r.out).toMatch(/^13 documents in, 3 kept/);
    const d = await drops(out);
    expect(d.get('b')).toBe('unsafe_text: .txt: invalid UTF-8');
    expect(d.get('c')).toBe('document_too_short: 0 < 4 characters');
    expect(d.get('d')).toBe('unsafe_text: .txt: a line of 900000 characters (limit 10000)');
    expect(d.get('e')).toBe('exact_duplicate: same bytes as a');
    expect(d.get('more-2')).toMatch(/^unreadable_document: more\.jsonl:2: not JSON/);
    expect(d.get('more-3')).toMatch(/^language_mismatch: document fr p=0\.\d+, declared en$/);
    expect(d.get('more-4')).toBe('bad_turns: turn 1: role "bot" (valid: system, user, assistant)');
    expect(d.get('more-5')).toMatch(/^near_duplicate: ~0\.\d\d of word 5-shingles shared with a$/);
    expect(d.get('more-7')).toBe('unreadable_document: more.jsonl:7: expected a JSON object with "text" or "turns", got an array');
    expect(d.get('more-9')).toBe('unreadable_document: more.jsonl:9: invalid UTF-8');
    const kept = [];
    for await (const s of iterateDataset(out)) kept.push(s);
    expect(kept.map((s) => s.key)).toEqual(['a', 'dialogue', 'more-8']);
    // A dialogue keeps its turns (what the trainer reads) and its text is the turns' words.
    expect(kept[1]!.meta['turns']).toHaveLength(2);
    expect(new TextDecoder().decode(kept[1]!.files['txt'])).toBe('What colour is the circle?\nThe circle is red.');
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/# Text curation report\n\n13 documents in, 3 out/);
    // A stage config that keeps English only drops the German document too; a bad config names the field.
    const config = join(dir, 'en.json');
    writeFileSync(config, JSON.stringify({ language: { keep: ['en'] }, nearDuplicate: false }));
    const en = await herd(['text', 'curate', src, join(dir, 'out-en'), '--config', config]);
    expect(en.code).toBe(0);
    expect(en.out).toMatch(/language +\d+ kept +2 dropped {2}language_mismatch 1, non_english_document 1/);
    expect(en.out).not.toMatch(/near_duplicate/);
    writeFileSync(config, JSON.stringify({ nearDuplicate: { threshold: 2 } }));
    const bad = await herd(['text', 'curate', src, join(dir, 'out-bad'), '--config', config]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/threshold must be in \(0, 1\], got 2/);
    writeFileSync(config, JSON.stringify({ nearDup: false }));
    const unknown = await herd(['text', 'curate', src, join(dir, 'out-bad'), '--config', config]);
    expect(unknown.err).toMatch(/en\.json: invalid stage options:\n {2}- unknown key in text curation config \S+en\.json: 'nearDup'; valid keys: textSafety, quality, language, exactDuplicate, nearDuplicate, decontaminate\n/);
  }, 60_000);

  it('curates each split of a generated corpus into OUTPUT/<split>, which text training reads, the held-out split decontaminated; an empty or missing input is a clear error', async () => {
    await generateWorld({ out: join(dir, 'world'), size: 'tiny', only: ['text'], counts: { text: 200 }, seed: 7 });
    const out = join(dir, 'curated');
    const r = await herd(['text', 'curate', join(dir, 'world', 'text'), out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^train: .*\n\d+ documents in, \d+ kept/);
    expect(r.out).toMatch(/\nheldout: .*\n\d+ documents in, \d+ kept/);
    const train = await readDataset(join(out, 'train'));
    const src = await readDataset(join(dir, 'world', 'text', 'train'));
    expect(train.totalCount).toBeGreaterThan(0);
    expect(train.totalCount).toBeLessThanOrEqual(src.totalCount);
    expect((await readDataset(join(out, 'heldout'))).totalCount).toBeGreaterThan(0);
    // A held-out document that repeats a training document is dropped, naming it.
    const doc = (key: string, text: string) => ({ key, files: { txt: new TextEncoder().encode(text) }, meta: {} });
    await writeDataset(join(dir, 'corpus', 'train'), [doc('t1', DOC), doc('t2', 'A green star is in the middle of the picture.')]);
    await writeDataset(join(dir, 'corpus', 'heldout'), [doc('h1', DOC), doc('h2', 'A purple hexagon is at the bottom left.')]);
    const dc = await herd(['text', 'curate', join(dir, 'corpus'), join(dir, 'corpus-out')]);
    expect(dc.code).toBe(0);
    expect(dc.out).toMatch(/\nheldout: .*\n2 documents in, 1 kept[^]*decontaminate +1 kept +1 dropped {2}in_training_split 1/);
    expect((await drops(join(dir, 'corpus-out', 'heldout'))).get('h1')).toBe('in_training_split: same text as t1');
    mkdirSync(join(dir, 'empty'));
    const empty = await herd(['text', 'curate', join(dir, 'empty'), join(dir, 'out-empty')]);
    expect(empty.code).not.toBe(0);
    expect(empty.err).toMatch(/empty: no dataset manifest \(manifest\.json\) and no documents \(\*\.txt, \*\.md, \*\.jsonl\)/);
    const missing = await herd(['text', 'curate', join(dir, 'nope'), join(dir, 'out-nope')]);
    expect(missing.err).toMatch(/text curate: input .*nope is not a folder/);
  }, 60_000);
});
