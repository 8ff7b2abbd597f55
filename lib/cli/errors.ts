// Why the CLI stops: a bad command line (exit 2, with the command's help) or a failure to do what was asked (exit 1).

/** The command line is wrong; the message says what, and the command's `--help` says how. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command was right but could not be carried out (no Redis client installed, Redis unreachable). */
export class CliFailure extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A library message without its stable `[TB_…]` code, which means nothing to an operator reading the CLI. */
export function withoutCode(message: string): string {
  return message.replace(/ \[TB_[A-Z_]+\]$/, '');
}
