/**
 * Audit events: one structured log line per state-changing action, attributed to the token that
 * did it (uploads are attributed in the database instead, by `object.created_by`).
 *
 *     {"level":"info","msg":"audit","action":"cache.create","sub":"alice","jti":"…","cache":"team-a"}
 *
 * Never pass token strings or secrets as fields.
 */
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";

export type AuditAction =
  | "cache.create"
  | "cache.configure"
  | "cache.destroy"
  | "token.mint"
  | "token.revoke"
  | "subject.revoke"
  | "oidc.exchange";

export function audit(
  deps: Pick<Deps, "log">,
  token: AtticToken | null,
  action: AuditAction,
  fields: Record<string, unknown> = {},
): void {
  deps.log.info("audit", {
    action,
    sub: token?.sub ?? null,
    ...(token?.jti !== undefined && { jti: token.jti }),
    ...fields,
  });
}
