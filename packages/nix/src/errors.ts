/**
 * The one error class of `@garret/nix`. `kind` is stable and machine-readable (the server maps
 * `InvalidStorePathHash`/`InvalidStorePath` onto attic's error kinds of the same name); `message`
 * says what was wrong with the input, never echoing more than a short excerpt of it.
 */

export type NixFormatErrorKind =
  | "InvalidStorePathHash"
  | "InvalidStorePath"
  | "InvalidHash"
  | "InvalidNarInfo"
  | "InvalidKey"
  | "InvalidNar";

export class NixFormatError extends Error {
  override readonly name = "NixFormatError";
  readonly kind: NixFormatErrorKind;

  constructor(kind: NixFormatErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}
