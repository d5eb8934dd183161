/**
 * The Llama 3 chat format (Meta's `ChatFormat`, identical to the Hugging Face template):
 *
 *   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>...
 *   [<|start_header_id|>assistant<|end_header_id|>\n\n]   (the generation prompt)
 *
 * Message text is encoded as ordinary text, so a user cannot inject `<|eot_id|>`. An image part
 * becomes `<|image|>` (Llama 3.2 Vision).
 */
import { ProblemList } from '@herd/core';
import { BEGIN_OF_TEXT_ID, END_HEADER_ID, EOT_ID, IMAGE_TOKEN_ID, START_HEADER_ID } from './special.js';

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

export type ChatContentPart = { readonly type: 'text'; readonly text: string } | { readonly type: 'image' };

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string | readonly ChatContentPart[];
}

export interface EncodeChatOptions {
  /** End with an open assistant header so the model writes the reply. */
  readonly addGenerationPrompt: boolean;
  /** Start with `<|begin_of_text|>`. Default true. */
  readonly bos?: boolean;
}

interface OrdinaryEncoder {
  encodeOrdinary(text: string): number[];
}

function checkMessages(messages: readonly ChatMessage[]): void {
  const problems = new ProblemList();
  messages.forEach((m, i) => {
    if (!(CHAT_ROLES as readonly string[]).includes(m.role)) {
      problems.add(`message ${i}: role ${JSON.stringify(m.role)} is not one of ${CHAT_ROLES.join(', ')}`);
    }
    if (typeof m.content !== 'string') {
      if (!Array.isArray(m.content)) {
        problems.add(`message ${i}: content must be a string or an array of parts`);
        return;
      }
      m.content.forEach((p: ChatContentPart, j: number) => {
        if (p.type === 'text' ? typeof p.text !== 'string' : p.type !== 'image') {
          problems.add(`message ${i} part ${j}: expected {type: 'text', text} or {type: 'image'}, got ${JSON.stringify(p)}`);
        }
      });
    }
  });
  problems.throwIfAny('invalid_argument', 'bad chat messages');
}

function header(tok: OrdinaryEncoder, role: string, out: number[]): void {
  out.push(START_HEADER_ID, ...tok.encodeOrdinary(role), END_HEADER_ID, ...tok.encodeOrdinary('\n\n'));
}

export function encodeChat(tok: OrdinaryEncoder, messages: readonly ChatMessage[], options: EncodeChatOptions): number[] {
  checkMessages(messages);
  const out: number[] = [];
  if (options.bos ?? true) out.push(BEGIN_OF_TEXT_ID);
  for (const m of messages) {
    header(tok, m.role, out);
    if (typeof m.content === 'string') {
      out.push(...tok.encodeOrdinary(m.content.trim()));
    } else {
      for (const part of m.content) {
        if (part.type === 'image') out.push(IMAGE_TOKEN_ID);
        else out.push(...tok.encodeOrdinary(part.text.trim()));
      }
    }
    out.push(EOT_ID);
  }
  if (options.addGenerationPrompt) header(tok, 'assistant', out);
  return out;
}

/** The same conversation as template text (for logs and for checking against other tools). */
export function renderChat(messages: readonly ChatMessage[], options: EncodeChatOptions): string {
  checkMessages(messages);
  let s = (options.bos ?? true) ? '<|begin_of_text|>' : '';
  for (const m of messages) {
    const content =
      typeof m.content === 'string'
        ? m.content.trim()
        : m.content.map((p) => (p.type === 'image' ? '<|image|>' : p.text.trim())).join('');
    s += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${content}<|eot_id|>`;
  }
  if (options.addGenerationPrompt) s += '<|start_header_id|>assistant<|end_header_id|>\n\n';
  return s;
}
