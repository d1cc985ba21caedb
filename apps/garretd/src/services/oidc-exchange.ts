/**
 * OIDC token exchange (garret extension, `POST /_api/v1/oidc/exchange`): a CI job presents its
 * identity token and gets a short-lived cache token in attic's layout, per the `[[garret.oidc]]`
 * trust policies. Policies are tried in order; the first whose issuer, signature, audience and
 * claim patterns all accept the identity token decides the grants. The minted token is recorded
 * like any other (revocable by jti, or by its subject `oidc:<repository>:<ref>` for GitHub Actions
 * tokens, `oidc:<sub>` otherwise).
 */
import { readFile } from "node:fs/promises";
import { hasControlChars } from "@garret/protocol";
import { createIdTokenVerifier, IdTokenError, type IdTokenVerifier, peekIssuer } from "@garret/token";
import type { OidcPolicy } from "../config/garret-config.ts";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import { audit } from "./audit.ts";
import { claimGlobMatches } from "./claim-glob.ts";
import { type MintedToken, mintRecorded } from "./tokens.ts";

const verifiers = new WeakMap<OidcPolicy, Promise<IdTokenVerifier>>();

function verifierFor(policy: OidcPolicy): Promise<IdTokenVerifier> {
  let verifier = verifiers.get(policy);
  if (!verifier) {
    verifier = buildVerifier(policy);
    // A JWKS file that could not be read is read again on the next attempt.
    verifier.catch(() => verifiers.delete(policy));
    verifiers.set(policy, verifier);
  }
  return verifier;
}

async function buildVerifier(policy: OidcPolicy): Promise<IdTokenVerifier> {
  const base = { issuer: policy.issuer, audiences: policy.audiences };
  if (policy.jwksUrl !== undefined)
    return createIdTokenVerifier({ ...base, keys: { jwksUrl: policy.jwksUrl } });
  const text = await readFile(policy.jwksFile ?? "", "utf8");
  return createIdTokenVerifier({ ...base, keys: { jwks: JSON.parse(text) } });
}

const rejected = (detail: string) => new AtticError("IdTokenRejected", { detail });

export async function exchangeIdToken(
  deps: Deps,
  idToken: string,
  requestedValiditySeconds: number | undefined,
): Promise<MintedToken & { policy: string }> {
  const policies = deps.settings.oidcPolicies ?? [];
  if (policies.length === 0) throw rejected("this server has no OIDC trust policies");
  const issuer = await peekIssuer(idToken);
  if (issuer === null) throw rejected("the identity token is malformed or has no issuer");
  const candidates = policies.filter((p) => p.issuer === issuer);
  if (candidates.length === 0) throw rejected(`no trust policy for issuer ${JSON.stringify(issuer)}`);

  let reason = "";
  for (const policy of candidates) {
    let claims: Record<string, unknown>;
    try {
      claims = await (await verifierFor(policy)).verify(idToken);
    } catch (err) {
      if (err instanceof IdTokenError) {
        reason = err.message;
        continue;
      }
      deps.log.warn("cannot load the JWKS of an OIDC trust policy", { policy: policy.name, err });
      reason = "the issuer's key set is unavailable";
      continue;
    }
    const mismatch = firstMismatch(policy, claims);
    if (mismatch !== null) {
      reason = `claim ${mismatch} does not match any trust policy`;
      continue;
    }
    const validitySeconds = Math.min(
      requestedValiditySeconds ?? policy.maxValiditySeconds,
      policy.maxValiditySeconds,
    );
    const sub = subjectOf(claims);
    if (hasControlChars(sub)) {
      reason = "the identity token's subject claims contain control characters";
      continue;
    }
    const minted = await mintRecorded(deps, {
      sub,
      validitySeconds,
      caches: policy.caches,
      admin: false,
      origin: "oidc",
      mintedBy: `oidc:${policy.name}`,
      now: Math.floor(deps.clock().getTime() / 1000),
    });
    audit(deps, null, "oidc.exchange", {
      policy: policy.name,
      issuer,
      idTokenSub: typeof claims.sub === "string" ? claims.sub : null,
      minted: { jti: minted.jti, sub, exp: minted.exp },
    });
    return { ...minted, policy: policy.name };
  }
  throw rejected(reason);
}

/** `name=value` of the first policy claim the token does not satisfy, or null. */
function firstMismatch(policy: OidcPolicy, claims: Record<string, unknown>): string | null {
  for (const [name, patterns] of policy.claims) {
    const value = claims[name];
    const text =
      typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "boolean"
          ? String(value)
          : null;
    if (text === null) return `${name} (absent)`;
    if (!patterns.some((p) => claimGlobMatches(p, text))) return `${name}=${JSON.stringify(text)}`;
  }
  return null;
}

/** GitHub Actions tokens: `oidc:<repository>:<ref>`; others: `oidc:<sub>`. */
export function subjectOf(claims: Record<string, unknown>): string {
  const { repository, ref, sub } = claims;
  if (typeof repository === "string") return `oidc:${repository}:${typeof ref === "string" ? ref : ""}`;
  return `oidc:${typeof sub === "string" ? sub : "unknown"}`;
}
