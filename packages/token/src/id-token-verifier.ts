/**
 * Verification of OpenID Connect identity tokens from a trusted issuer (a CI system such as
 * GitHub Actions), for trading them against a cache token. Unlike attic tokens, these are signed
 * by the issuer's keys, published as a JWKS at a URL or given as a local JWKS document.
 *
 * A GitHub Actions identity token's claims look like:
 *
 *     {"iss":"https://token.actions.githubusercontent.com","aud":"https://cache.example.com",
 *      "sub":"repo:octo-org/app:ref:refs/heads/main","repository":"octo-org/app",
 *      "repository_owner":"octo-org","ref":"refs/heads/main","workflow":"CI","event_name":"push",
 *      "exp":1764550000,"nbf":1764549400,"iat":1764549700,...}
 *
 * Checked: the signature (RS256 or ES256 only), `iss`, `aud` (one of the configured audiences),
 * `exp` (required: a token without one would be good forever) and `nbf` with a small clock
 * tolerance. Failures throw IdTokenError with a reason that is
 * safe to show to the presenting client.
 */
import type { JSONWebKeySet, JWTPayload } from "jose";
import { loadJose } from "./jose.ts";

type JoseErrors = Awaited<ReturnType<typeof loadJose>>["errors"];

export type IdTokenKeySource = { jwksUrl: string; timeoutMs?: number } | { jwks: JSONWebKeySet };

export interface IdTokenVerifierOptions {
  issuer: string;
  audiences: readonly string[];
  keys: IdTokenKeySource;
  /** Seconds of clock skew allowed on exp/nbf; default 5. */
  clockToleranceSeconds?: number;
  /** Unix seconds; defaults to the system clock. */
  now?: () => number;
}

export interface IdTokenVerifier {
  readonly issuer: string;
  verify(idToken: string): Promise<Record<string, unknown>>;
}

export class IdTokenError extends Error {
  override readonly name = "IdTokenError";
}

const ALGORITHMS = ["RS256", "ES256"];

export async function createIdTokenVerifier(opts: IdTokenVerifierOptions): Promise<IdTokenVerifier> {
  const { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } = await loadJose();
  const keys =
    "jwksUrl" in opts.keys
      ? createRemoteJWKSet(new URL(opts.keys.jwksUrl), { timeoutDuration: opts.keys.timeoutMs ?? 5000 })
      : createLocalJWKSet(opts.keys.jwks);
  const tolerance = opts.clockToleranceSeconds ?? 5;
  return {
    issuer: opts.issuer,
    async verify(idToken) {
      try {
        const { payload } = await jwtVerify(idToken, keys, {
          issuer: opts.issuer,
          audience: [...opts.audiences],
          algorithms: ALGORITHMS,
          clockTolerance: tolerance,
          requiredClaims: ["exp"],
          ...(opts.now ? { currentDate: new Date(opts.now() * 1000) } : {}),
        });
        return payload as Record<string, unknown>;
      } catch (err) {
        throw new IdTokenError(describeFailure(err, errors), { cause: err });
      }
    },
  };
}

/** The unverified issuer of a token, to pick the trust policies to try; null if unreadable. */
export async function peekIssuer(idToken: string): Promise<string | null> {
  const { decodeJwt } = await loadJose();
  try {
    const payload: JWTPayload = decodeJwt(idToken);
    return typeof payload.iss === "string" ? payload.iss : null;
  } catch {
    return null;
  }
}

function describeFailure(err: unknown, errors: JoseErrors): string {
  if (err instanceof errors.JWTExpired) return "the identity token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return "the identity token's audience is not accepted";
    if (err.claim === "iss") return "the identity token's issuer is not accepted";
    if (err.claim === "nbf") return "the identity token is not valid yet";
    if (err.reason === "missing") return `the identity token has no ${err.claim} claim`;
    return `the identity token's ${err.claim} claim is invalid`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return "the identity token's signature is invalid";
  if (err instanceof errors.JOSEAlgNotAllowed)
    return "the identity token's algorithm is not accepted (RS256 or ES256)";
  if (err instanceof errors.JWKSNoMatchingKey)
    return "no key of the issuer's key set matches the identity token";
  if (err instanceof errors.JWKSTimeout) return "the issuer's key set could not be fetched in time";
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid)
    return "the identity token is malformed";
  if (err instanceof errors.JOSEError) return `the identity token could not be verified (${err.code})`;
  return "the issuer's key set could not be fetched";
}
