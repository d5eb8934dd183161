/**
 * A small client of the chat API: posts a message and reads the Server-Sent Events back, calling
 * `onToken` as tokens arrive. Used by `--once` and the tests.
 */
export interface SseEvent {
  readonly event: string;
  readonly data: unknown;
}

export interface ChatReply {
  readonly status: number;
  readonly headers: Headers;
  /** Every SSE event in order (empty when the answer was a JSON error). */
  readonly events: readonly SseEvent[];
  /** The JSON body of a non-streaming answer (an error). */
  readonly json?: unknown;
  readonly text: string;
}

/** Splits an SSE stream into events (fields `event:` and `data:`; data is JSON). */
export function parseSse(chunk: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const blocks = chunk.split('\n\n');
  const rest = blocks.pop()!;
  for (const b of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of b.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    events.push({ event, data: JSON.parse(data.join('\n')) });
  }
  return { events, rest };
}

export async function postChat(baseUrl: string, body: unknown, o: { onToken?: (text: string) => void; signal?: AbortSignal } = {}): Promise<ChatReply> {
  const res = await fetch(new URL('/api/chat', baseUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(o.signal ? { signal: o.signal } : {}) });
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    return { status: res.status, headers: res.headers, events: [], json: await res.json(), text: '' };
  }
  const events: SseEvent[] = [];
  let buf = '';
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const got = parseSse(buf + decoder.decode(chunk, { stream: true }));
    buf = got.rest;
    for (const e of got.events) {
      events.push(e);
      if (e.event === 'token') {
        const t = (e.data as { text: string }).text;
        text += t;
        o.onToken?.(t);
      }
    }
  }
  return { status: res.status, headers: res.headers, events, text };
}
