// What a stream has generated so far (its usage, or its output counted delta by delta); a chat-completions stream's reading.
import { getEncoder, type Encoder } from '../tokens/encoder';
import type { EncodingName } from '../tokens/models';
import type { Usage } from '../usage';

interface ChunkDelta {
  content?: unknown;
  refusal?: unknown;
  reasoning_content?: unknown;
  tool_calls?: unknown;
}

/** What a stream has generated so far, read chunk by chunk as it passes: each delta counted on its own, once. */
export abstract class StreamTally {
  /** Output tokens counted from the deltas seen. */
  output = 0;
  /** The usage the stream reported, if it did. */
  usage: Usage | undefined;
  /** The model the stream says answered (a dated snapshot, say), if it named one: it is priced by that name. */
  model: string | undefined;
  private readonly encoder: Encoder;

  constructor(encoding: EncodingName) {
    this.encoder = getEncoder(encoding);
  }

  abstract observe(chunk: unknown): void;

  protected noteModel(model: unknown): void {
    if (typeof model === 'string') this.model = model;
  }

  protected countText(text: unknown): void {
    if (typeof text === 'string' && text.length > 0) this.output += this.encoder.count(text);
  }
}

/**
 * Reads the chunks of one chat-completions stream as they pass. Each delta is counted
 * on its own, once: a word split across two chunks counts as two pieces, so the count
 * errs high (never low), and no text is ever counted twice.
 */
export class ChatStreamTally extends StreamTally {
  /** Counts one chunk (text, refusal, reasoning, tool-call names and arguments); Azure's chunks without choices or without a delta are read as nothing generated. */
  observe(chunk: unknown): void {
    const { choices, usage, model } = chunk as { choices?: unknown; usage?: unknown; model?: unknown };
    if (typeof usage === 'object' && usage !== null) this.usage = usage as Usage;
    this.noteModel(model);
    if (!Array.isArray(choices)) return;
    for (const choice of choices) {
      const delta = (choice as { delta?: ChunkDelta } | null)?.delta;
      if (typeof delta !== 'object' || delta === null) continue;
      this.countText(delta.content);
      this.countText(delta.refusal);
      this.countText(delta.reasoning_content);
      if (!Array.isArray(delta.tool_calls)) continue;
      for (const call of delta.tool_calls) {
        const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
        this.countText(fn?.name);
        this.countText(fn?.arguments);
      }
    }
  }
}
