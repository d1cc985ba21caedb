/**
 * Error thrown by the token package for configuration and minting problems (bad keys, invalid
 * patterns, a verify-only authority asked to sign). Verification never throws: an unusable token
 * is reported as "anonymous" instead, as atticd does.
 */
export class TokenError extends Error {
  override readonly name = "TokenError";
}
