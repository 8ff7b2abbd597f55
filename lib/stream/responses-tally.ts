// What a Responses API stream has generated so far: the usage of its final event, or its output counted delta by delta.
import type { Usage } from '../usage';
import { StreamTally } from './chat-tally';

/** Events whose `delta` is generated text: message text, refusals, function-call arguments, reasoning. */
const DELTA_EVENTS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
]);

/** Events that end a response and carry it whole, `usage` included. */
const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Reads the events of one Responses stream as they pass. Each delta is counted on its
 * own, once (a word split across two events counts as two pieces: the count errs high);
 * a function call's name is counted when its item is added.
 */
export class ResponsesStreamTally extends StreamTally {
  observe(event: unknown): void {
    const { type, delta, item, response } = (event ?? {}) as {
      type?: unknown;
      delta?: unknown;
      item?: unknown;
      response?: unknown;
    };
    if (typeof type !== 'string') return;
    // `response.created` names the model first; the final event names it again.
    this.noteModel((response as { model?: unknown } | null | undefined)?.model);
    if (DELTA_EVENTS.has(type)) this.countText(delta);
    else if (type === 'response.output_item.added') this.countText((item as { name?: unknown } | null)?.name);
    else if (FINAL_EVENTS.has(type)) {
      const usage = (response as { usage?: unknown } | null)?.usage;
      if (typeof usage === 'object' && usage !== null) this.usage = usage as Usage;
    }
  }
}
