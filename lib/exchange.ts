// The exchange: what a framework-free step sees of one request, whichever framework (Express, Koa) carries it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BudgetContext } from './context';
import type { BudgetRefusal } from './refusal';

export interface Exchange {
  /** The framework's own request object, as the app's callbacks receive it: Express's `req`, Koa's `ctx`. */
  readonly request: unknown;
  /** The parsed body; `undefined` when no body parser ran. */
  readonly body: unknown;
  /** The node request, for its headers. */
  readonly req: IncomingMessage;
  /** The node response: headers written with the head, server-sent events, the client's hang-up. */
  readonly res: ServerResponse;
  /** The budget context: `req.tokenBudget` on Express, `ctx.state.tokenBudget` on Koa. */
  context: BudgetContext | undefined;
  /** Whether the request says its body is JSON. */
  isJson(): boolean;
  /** How to mount the framework's JSON body parser, for the error a JSON body that no parser read gets. */
  readonly bodyParserHint: string;
  /** Whether the response head is already written. */
  readonly headersSent: boolean;
  /** Answers with a JSON body. */
  sendJson(status: number, headers: Record<string, string>, body: unknown): void;
  /** Hands the node response to the step, which writes it itself (server-sent events). */
  takeOver(): void;
  /** Passes an error on to the framework's own error handling (`next(err)`, or a throw on Koa). */
  passOn(error: unknown): void;
  /** Calls the app's `onReject` with the framework's arguments; returns what it returns. */
  callOnReject(onReject: unknown, refusal: BudgetRefusal): unknown;
}
