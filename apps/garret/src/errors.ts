/** The client's own failure types, kept apart from the command code so `--help` loads neither. */

/** Bad command-line usage: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** A failure with an explanation line printed after `error: <message>`. */
export class HintedError extends Error {
  readonly original: unknown;
  readonly hint: string | undefined;

  constructor(original: unknown, hint: string | undefined) {
    super(original instanceof Error ? original.message : String(original));
    this.original = original;
    this.hint = hint;
  }
}
