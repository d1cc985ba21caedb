/**
 * The per-request pipeline ahead of every route, in atticd's order: request id → Host check
 * (`allowed-hosts`) → request state (Host, X-Forwarded-Proto) → token (never rejects: a bad or
 * revoked token is anonymous) → handler → `X-Attic-Cache-Visibility: public` when the handler served a public
 * cache → access log line. One middleware instead of five keeps the narinfo hot path short.
 */
import { randomUUID } from "node:crypto";
import type { AtticToken } from "@garret/token";
import { parseAuthorizationHeader } from "@garret/token";
import type { MiddlewareHandler } from "hono";
import type { Deps } from "../deps.ts";
import type { AppEnv, RequestState } from "../env.ts";
import { requestError } from "../errors.ts";
import { requestLog } from "../request-log.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request headers the pipeline reads. */
export interface CallerHeaders {
  host: string | undefined;
  authorization: string | undefined;
  forwardedProto: string | undefined;
}

/** Request id (the client's if well-formed), then the Host check; the id is known even when the check throws. */
export function requestIdOf(incoming: string | undefined): string {
  return incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Host check, request state and token, framework-free: the Hono middleware below and the narinfo
 * fast paths (routes/fast-path.ts) both use it, so they cannot disagree.
 */
export async function identifyCaller(
  deps: Deps,
  allowedHosts: ReadonlySet<string>,
  headers: CallerHeaders,
): Promise<{ request: RequestState; token: AtticToken | null; expiredTokenAt?: number }> {
  const host = headers.host;
  if (!host) throw requestError("Missing Host header");
  if (allowedHosts.size > 0 && !allowedHosts.has(host)) throw requestError("Bad Host");
  const raw = parseAuthorizationHeader(headers.authorization);
  const verified = raw === null ? null : await deps.tokens.verifyWithReason(raw);
  const token = verified?.ok ? verified.token : null;
  const expiredTokenAt = verified && !verified.ok ? verified.expiredAt : undefined;
  return {
    request: { host, forwardedHttps: headers.forwardedProto === "https" },
    token: token && deps.state.revocations.isRevoked(token) ? null : token,
    ...(expiredTokenAt !== undefined && { expiredTokenAt }),
  };
}

export function requestContext(deps: Deps): MiddlewareHandler<AppEnv> {
  const allowed = new Set(deps.settings.allowedHosts);
  const logRequest = requestLog(deps.log);
  return async (c, next) => {
    const started = logRequest ? performance.now() : 0;
    const requestId = requestIdOf(c.req.header("x-request-id"));
    c.set("deps", deps);
    c.set("requestId", requestId);
    c.set("publicCache", false);
    c.header("x-request-id", requestId);

    const { request, token, expiredTokenAt } = await identifyCaller(deps, allowed, {
      host: c.req.header("host") ?? authorityOf(c.req.url),
      authorization: c.req.header("authorization"),
      forwardedProto: c.req.header("x-forwarded-proto"),
    });
    c.set("request", request);
    c.set("token", token);
    if (expiredTokenAt !== undefined) c.set("expiredTokenAt", expiredTokenAt);

    await next();

    if (c.get("publicCache")) c.res.headers.set("x-attic-cache-visibility", "public");
    logRequest?.({
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      started,
      sub: c.get("token")?.sub,
    });
  };
}

/** HTTP/2 requests may carry the authority only in the URL (`:authority`); atticd rejects those. */
function authorityOf(url: string): string | undefined {
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}
