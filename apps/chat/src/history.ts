/**
 * Conversations kept in memory, bounded: at most `maxConversations` (the least recently used is
 * forgotten first), at most `maxTurns` turns each (the oldest go first), and decoded media (images,
 * audio features, clip frames) only for the last `maxImages` user turns (older turns keep their text;
 * their media is dropped, since a tiled image or clip at full size takes megabytes).
 */
import { type Turn, hasMedia } from './engine.js';

export class ConversationStore {
  private readonly byId = new Map<string, Turn[]>();

  constructor(
    readonly maxConversations: number,
    readonly maxTurns: number,
    readonly maxImages = 2,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /** The turns of a conversation (empty for a new one); marks it recently used. */
  get(id: string): readonly Turn[] {
    const turns = this.byId.get(id) ?? [];
    this.byId.delete(id);
    this.byId.set(id, turns);
    while (this.byId.size > this.maxConversations) this.byId.delete(this.byId.keys().next().value!);
    return turns;
  }

  /** Appends a finished exchange. */
  append(id: string, ...turns: Turn[]): void {
    const all = [...this.get(id), ...turns].slice(-this.maxTurns);
    let images = 0;
    for (let i = all.length - 1; i >= 0; i--) {
      const t = all[i]!;
      if (hasMedia(t) && ++images > this.maxImages) all[i] = { role: t.role, text: t.text };
    }
    this.byId.set(id, all);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }
}
