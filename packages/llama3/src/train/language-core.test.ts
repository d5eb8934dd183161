import { describe, expect, it } from 'vitest';
import { EOT_ID } from '../tokenizer/special.js';
import { loadLlama3Tokenizer } from '../tokenizer/tokenizer.js';
import { encodeDialogueForSft } from './language-core.js';

describe('fine-tuning masks', () => {
  it('marks exactly what the assistant says (each reply and its <|eot_id|>)', async () => {
    const tok = await loadLlama3Tokenizer();
    const turns = [
      { role: 'user', content: 'What colour is the circle?' },
      { role: 'assistant', content: 'The circle is red.' },
      { role: 'user', content: 'Where is it?' },
      { role: 'assistant', content: 'On the left.' },
    ] as const;
    const { ids, trainable } = encodeDialogueForSft(tok, turns);
    expect(ids).toEqual(tok.encodeChat(turns, { addGenerationPrompt: false }));
    const kept = ids.filter((_, i) => trainable[i]);
    expect(tok.decode(kept)).toBe('The circle is red.<|eot_id|>On the left.<|eot_id|>');
    expect(kept.filter((t) => t === EOT_ID)).toHaveLength(2);
  });
});
