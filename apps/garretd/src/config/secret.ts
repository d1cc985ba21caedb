/**
 * `Secret<T>`: a box for configuration secrets (database passwords, JWT keys, S3 secret keys).
 *
 * Every way a value usually escapes into a log — string conversion, `JSON.stringify`,
 * `util.inspect`/`console.log`, template literals — prints `[redacted]`. Code that truly needs the
 * value calls `expose()`, which makes each use of a secret easy to find.
 */

import { inspect } from "node:util";

const REDACTED = "[redacted]";

export class Secret<T> {
  // A private field, so neither util.inspect nor structured logging can reach the value.
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  expose(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
