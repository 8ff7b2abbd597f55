// StoreUnavailableError: the budget store could not answer within its deadline.

/**
 * Thrown by a store when its backend is disconnected, stalled or busy and cannot
 * answer within the store's deadline. `resilientStore` turns it into each scope's
 * `onUnavailable` policy; a middleware without one answers 503 `budget_unavailable`.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'TB_STORE_UNAVAILABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super(`${message} [TB_STORE_UNAVAILABLE]`, options);
    this.name = 'StoreUnavailableError';
  }
}
