import { describe, expect, it } from 'vitest';
import { type TiledImage } from '@herd/vision';
import { ConversationStore } from './history.js';

const img = {} as TiledImage; // the store never looks inside an image

describe('conversation store', () => {
  it('bounds conversations (least recently used go), turns (oldest go) and kept images (latest stay)', () => {
    const s = new ConversationStore(2, 4, 1);
    s.append('a', { role: 'user', text: 'a1', image: img }, { role: 'assistant', text: 'a2' });
    s.append('a', { role: 'user', text: 'a3', image: img }, { role: 'assistant', text: 'a4' });
    s.append('a', { role: 'user', text: 'a5' }, { role: 'assistant', text: 'a6' });
    expect(s.get('a').map((t) => t.text)).toEqual(['a3', 'a4', 'a5', 'a6']);
    expect(s.get('a')[0]!.image).toBe(img);
    s.append('a', { role: 'user', text: 'a7', image: img }, { role: 'assistant', text: 'a8' });
    expect(s.get('a').map((t) => [t.text, t.image !== undefined])).toEqual([['a5', false], ['a6', false], ['a7', true], ['a8', false]]);
    s.append('b', { role: 'user', text: 'b1' });
    s.get('a'); // a is now the most recently used
    s.append('c', { role: 'user', text: 'c1' });
    expect(s.size).toBe(2);
    expect(s.get('b')).toEqual([]); // b was forgotten
  });
});
