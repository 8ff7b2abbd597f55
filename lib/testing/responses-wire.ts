// The offline upstream's Responses API wire format: response bodies and the named server-sent events of a streamed response.
import { countTokens } from '../tokens/count';
import { DEFAULT_CAP, replyOfTokens, replyPieces } from './stream';
import type { StagedToolCall, UpstreamCall } from './types';
import type { ReplyBody, StreamWriter } from './wire';

/** Usage in the Responses API's shape. */
interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

const responsesUsage = (input: number, output: number, reasoning: number): ResponsesUsage => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: reasoning },
  total_tokens: input + output,
});

const MESSAGE_ID = 'msg_offline';
const CALL_ID = 'fc_offline';

/** The output item of a reply: a message with its text, or a function call. */
function outputItem(text: string, toolCall: StagedToolCall | undefined, status: 'in_progress' | 'completed') {
  if (toolCall) {
    const args = status === 'completed' ? toolCall.arguments : '';
    return { type: 'function_call', id: CALL_ID, call_id: 'call_offline', name: toolCall.name, arguments: args, status };
  }
  const content = status === 'completed' ? [{ type: 'output_text', text, annotations: [] }] : [];
  return { type: 'message', id: MESSAGE_ID, status, role: 'assistant', content };
}

/** A `response` object: `incomplete` when the cap cut it; `usage` null when the upstream does not report it. */
function responseBody(
  id: string,
  model: unknown,
  output: unknown[],
  status: 'in_progress' | 'completed' | 'incomplete',
  usage: ResponsesUsage | null,
) {
  return {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model,
    output,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    error: null,
    usage,
  };
}

/** Writes the named events of one streamed response, numbering them as the API does. */
class ResponsesEvents {
  private sequence = 0;

  constructor(
    private readonly write: (text: string) => unknown,
    private readonly id: string,
    private readonly model: unknown,
    private readonly toolCall: StagedToolCall | undefined,
  ) {}

  private event(type: string, fields: Record<string, unknown>): void {
    this.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.sequence++, ...fields })}\n\n`);
  }

  /** `response.created`, the output item added and (for text) its empty part. */
  head(): void {
    this.event('response.created', { response: responseBody(this.id, this.model, [], 'in_progress', null) });
    this.event('response.output_item.added', { output_index: 0, item: outputItem('', this.toolCall, 'in_progress') });
    if (!this.toolCall) {
      const part = { type: 'output_text', text: '', annotations: [] };
      this.event('response.content_part.added', { item_id: MESSAGE_ID, output_index: 0, content_index: 0, part });
    }
  }

  /** One piece of generated text, or of the function call's arguments. */
  delta(piece: string): void {
    if (this.toolCall) this.event('response.function_call_arguments.delta', { item_id: CALL_ID, output_index: 0, delta: piece });
    else
      this.event('response.output_text.delta', {
        item_id: MESSAGE_ID,
        output_index: 0,
        content_index: 0,
        delta: piece,
        logprobs: [],
      });
  }

  /** The done events and `response.completed` (or `response.incomplete`), with `usage` unless it is null. */
  finish(text: string, status: 'completed' | 'incomplete', usage: ResponsesUsage | null): void {
    const item = outputItem(text, this.toolCall, 'completed');
    if (this.toolCall) {
      this.event('response.function_call_arguments.done', {
        item_id: CALL_ID,
        output_index: 0,
        arguments: this.toolCall.arguments,
      });
    } else {
      const at = { item_id: MESSAGE_ID, output_index: 0, content_index: 0 };
      this.event('response.output_text.done', { ...at, text, logprobs: [] });
      this.event('response.content_part.done', { ...at, part: { type: 'output_text', text, annotations: [] } });
    }
    this.event('response.output_item.done', { output_index: 0, item });
    this.event(`response.${status}`, { response: responseBody(this.id, this.model, [item], status, usage) });
  }

  /** The `error` event the API sends when it fails mid-stream. */
  error(): void {
    this.event('error', { code: 'server_error', message: 'staged failure mid-stream', param: null });
  }
}

/** The bill as the Responses API reports it. */
const wireUsage = (call: UpstreamCall) => responsesUsage(call.promptTokens, call.completionTokens, call.reasoningTokens);

/** The Responses API stream: named events, usage in `response.completed`, no `[DONE]`. */
export const responsesWire: StreamWriter = (res, call, generated, toolCall, model) => {
  const events = new ResponsesEvents((text) => res.write(text), 'resp_offline_stream', call.request.body.model, toolCall);
  const pieces = replyPieces(generated, toolCall, model);
  return {
    head: () => {
      events.head();
      return toolCall ? countTokens(toolCall.name, model) : 0;
    },
    deltas: pieces.map(([piece, tokens]) => [() => events.delta(piece), tokens]),
    finish: () => {
      const text = toolCall ? '' : replyOfTokens(generated);
      const status = !toolCall && generated >= (call.cap ?? DEFAULT_CAP) - call.reasoningTokens ? 'incomplete' : 'completed';
      events.finish(text, status, call.behaviour.kind === 'no-usage' ? null : wireUsage(call));
      res.end();
    },
    error: () => {
      events.error();
      res.end();
    },
  };
};

/** The `n`th response, not streamed: its text or function call, `incomplete` when the cap cut it, `usage` unless staged without. */
export const responsesReply: ReplyBody = (call, n, content, toolCall, cut) => {
  const usage = call.behaviour.kind === 'no-usage' ? null : wireUsage(call);
  const output = [outputItem(content ?? '', toolCall, 'completed')];
  return responseBody(`resp_offline_${n}`, call.request.body.model, output, cut ? 'incomplete' : 'completed', usage);
};
