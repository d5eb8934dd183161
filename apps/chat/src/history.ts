/**
 * Conversations kept in memory, bounded: at most `maxConversations` (the least recently used is
 * forgotten first) and at most `maxTurns` turns each (the oldest go first).
 */
import { type Turn } from './engine.js';

export class ConversationStore {
  private readonly byId = new Map<string, Turn[]>();

  constructor(
    readonly maxConversations: number,
    readonly maxTurns: number,
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
    const all = [...this.get(id), ...turns];
    this.byId.set(id, all.slice(Math.max(0, all.length - this.maxTurns)));
  }

  delete(id: string): void {
    this.byId.delete(id);
  }
}
