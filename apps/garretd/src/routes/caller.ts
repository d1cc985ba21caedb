/**
 * Bodies are read only for callers whose token was verified: an anonymous call to an endpoint that
 * needs a token is answered 401 before a byte of its body is read, so strangers cannot make the
 * server buffer JSON, upload preambles or narinfo files. (app.ts closes such connections instead of
 * draining the unread body.)
 */
import type { AtticToken } from "@garret/token";
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { AtticError } from "../errors.ts";

export function requireToken(c: Context<AppEnv>): AtticToken {
  const token = c.get("token");
  if (!token) throw new AtticError("Unauthorized");
  return token;
}
