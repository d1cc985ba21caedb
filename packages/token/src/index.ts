/** @garret/token: atticd-compatible JWTs (claim layout, verification rules, minting, key loading). */
export { type AtticToken, type CachePermissions, createAtticToken } from "./attic-token.ts";
export { parseAuthorizationHeader } from "./authorization-header.ts";
export { ATTIC_CLAIM, buildClaims, type MintOptions, parseAtticClaim, serializeClaims } from "./claims.ts";
export { GARRET_CLAIM, type GarretGrant, garretGrantClaims, readGarretGrant } from "./garret-claim.ts";
export { findUncoveredGrant, globsMayOverlap, type UncoveredGrant } from "./grant-coverage.ts";
export {
  createIdTokenVerifier,
  IdTokenError,
  type IdTokenKeySource,
  type IdTokenVerifier,
  type IdTokenVerifierOptions,
  peekIssuer,
} from "./id-token-verifier.ts";
export {
  generateRs256PrivateKeyPem,
  generateRs256PrivateKeyPemAsync,
  type TokenAlgorithm,
  type TokenKeyConfig,
} from "./keys.ts";
export {
  createTokenAuthority,
  type TokenAuthority,
  type TokenAuthorityOptions,
} from "./token-authority.ts";
export { TokenError } from "./token-error.ts";
export type { TokenBounds, VerifyResult } from "./verify-jwt.ts";
