// The offline upstream's chat-completions wire format: completion bodies, the chunks of a streamed reply, Azure's content-filter events.
import { countTokens } from '../tokens/count';
import { DEFAULT_CAP, replyPieces } from './stream';
import type { UpstreamCall } from './types';
import type { ReplyBody, StreamWire, StreamWriter } from './wire';

/** The chat.completion body of a generated reply. */
function completionBody(id: string, model: string, message: Record<string, unknown>, finishReason: string) {
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
  };
}

/** One `chat.completion.chunk` event of a streamed reply. */
function chunkEvent(call: UpstreamCall, choices: unknown[], usage?: unknown): string {
  const chunk = {
    id: 'chatcmpl-offline-stream',
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: call.answeringModel,
    choices,
    ...(usage ? { usage } : {}),
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** Azure's content-filter verdict on a prompt or a completion: nothing filtered. */
const AZURE_FILTER = { hate: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } };

/** Azure's first event: no choices, no id, no model, only the prompt's filter results. */
const azurePromptFilterEvent = (): string =>
  `data: ${JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] })}\n\n`;

/** Azure's asynchronous filter verdict after the text: a choice without `delta`. */
const azureCompletionFilterEvent = (call: UpstreamCall): string =>
  chunkEvent(call, [
    {
      index: 0,
      finish_reason: null,
      content_filter_results: AZURE_FILTER,
      content_filter_offsets: { check_offset: 0, start_offset: 0, end_offset: call.sentTokens },
    },
  ]);

/** The chat-completions stream: `data:` chunks, a usage chunk when asked for, `[DONE]` (Azure's filter events around them). */
export const chatWire: StreamWriter = (res, call, generated, toolCall, model) => {
  const write = (choices: unknown[], usage?: unknown) => res.write(chunkEvent(call, choices, usage));
  const writeDelta = (delta: unknown) => write([{ index: 0, delta, logprobs: null, finish_reason: null }]);
  const pieces = replyPieces(generated, toolCall, model);
  const deltas: StreamWire['deltas'] = toolCall
    ? [
        [
          () =>
            writeDelta({
              tool_calls: [{ index: 0, id: 'call_offline', type: 'function', function: { name: toolCall.name, arguments: '' } }],
            }),
          countTokens(toolCall.name, model),
        ],
        ...pieces.map(([piece, tokens]): [() => void, number] => [
          () => writeDelta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }),
          tokens,
        ]),
      ]
    : pieces.map(([piece, tokens]) => [() => writeDelta({ content: piece }), tokens]);
  return {
    head: () => {
      if (call.request.azure) res.write(azurePromptFilterEvent());
      writeDelta({ role: 'assistant', content: '' });
      return 0;
    },
    deltas,
    finish: () => {
      const finish = toolCall ? 'tool_calls' : generated >= (call.cap ?? DEFAULT_CAP) - call.reasoningTokens ? 'length' : 'stop';
      write([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]);
      if (call.request.azure) res.write(azureCompletionFilterEvent(call));
      const streamOptions = call.request.body.stream_options as { include_usage?: unknown } | undefined;
      if (call.behaviour.kind !== 'no-usage' && streamOptions?.include_usage === true) write([], chatUsage(call));
      res.end('data: [DONE]\n\n');
    },
    error: () => {
      res.write(
        `event: error\ndata: ${JSON.stringify({ error: { message: 'staged failure mid-stream', type: 'server_error' } })}\n\n`,
      );
      res.end();
    },
  };
};

/** The bill as chat completions report it (reasoning tokens in its details, when there were any). */
const chatUsage = (call: UpstreamCall) =>
  call.reasoningTokens > 0
    ? { ...call.usage!, completion_tokens_details: { reasoning_tokens: call.reasoningTokens } }
    : call.usage;

/** The `n`th reply, not streamed: its text or tool call, Azure's filter results on Azure's path, `usage` unless staged without. */
export const chatReply: ReplyBody = (call, n, content, toolCall, cut) => {
  const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
  if (toolCall) message.tool_calls = [{ id: `call_offline_${n}`, type: 'function', function: toolCall }];
  const finish = toolCall ? 'tool_calls' : cut ? 'length' : 'stop';
  const completion = completionBody(`chatcmpl-offline-${n}`, call.answeringModel, message, finish);
  const reply: Record<string, unknown> = call.request.azure
    ? {
        ...completion,
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }],
        choices: completion.choices.map((choice) => ({ ...choice, content_filter_results: AZURE_FILTER })),
      }
    : completion;
  if (call.behaviour.kind !== 'no-usage') reply.usage = chatUsage(call);
  return reply;
};
