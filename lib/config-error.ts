// Configuration mistakes: thrown at start-up with a stable code and one clear sentence.

/** Stable codes of configuration mistakes; safe to match on. */
export type ConfigErrorCode =
  | 'TB_UNKNOWN_MODEL'
  | 'TB_ALIAS_UNKNOWN_MODEL'
  | 'TB_ALIAS_CYCLE'
  | 'TB_UNKNOWN_FEATURE'
  | 'TB_INVALID_OPTION'
  | 'TB_INVALID_LIMIT'
  | 'TB_OUTPUT_OVER_MODEL_LIMIT'
  | 'TB_OVER_CONTEXT'
  | 'TB_OVER_INPUT_LIMIT'
  | 'TB_UNPRICED_MODEL'
  | 'TB_DUPLICATE_QUOTA'
  | 'TB_BUDGET_FILE'
  | 'TB_UNKNOWN_OPTION'
  | 'TB_MISSING_PEER'
  | 'TB_WRONG_FRAMEWORK';

/** A mistake in the options given to token-budget, reported when they are read. */
export class TokenBudgetConfigError extends Error {
  readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string) {
    super(`${message} [${code}]`);
    this.name = 'TokenBudgetConfigError';
    this.code = code;
  }
}
