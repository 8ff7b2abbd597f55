// A step: one middleware's work, framework-free; each adapter turns it into its framework's middleware.
import type { Exchange } from '../exchange';
import type { AnswerOptions } from '../http/errors';

export interface Step {
  /** Does the step's work; a refusal is thrown, and answered by the adapter as `answer` says. */
  run(exchange: Exchange): void | Promise<void>;
  /** How the step's refusals are answered. */
  answer: AnswerOptions;
  /** Whether the step answers the request itself (a handler) instead of passing it on. */
  ends: boolean;
}
