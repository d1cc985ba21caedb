/**
 * Explanations added under permission errors, which attic users found opaque (attic#90, #166,
 * #133): which server and token were used, and which permission letter the action needs.
 * Letters as in `garretadm make-token`: r pull, w push, d delete paths, cc create, cr configure,
 * cq retention, cd destroy. Pins and path deletion are garret extensions: atticd answers `404 NotFound`
 * (pins) or a bare 404/405 (delete), so those get a hint naming the cause.
 */
import { ApiError } from "./api-client.ts";

export type Action =
  | "read"
  | "push"
  | "create"
  | "configure"
  | "configure-retention"
  | "destroy"
  | "pin"
  | "unpin"
  | "delete";

const NEEDS: Record<Action, string> = {
  read: `"r" (pull)`,
  push: `"w" (push)`,
  create: `"cc" (create cache)`,
  configure: `"cr" (configure cache)`,
  "configure-retention": `"cr" (configure cache) and "cq" (configure retention)`,
  destroy: `"cd" (destroy cache)`,
  pin: `"cr" (configure cache) and "cq" (configure retention)`,
  unpin: `"cr" (configure cache) and "cq" (configure retention)`,
  delete: `"d" (delete paths)`,
};

const EXTENSIONS: Partial<Record<Action, string>> = {
  pin: "pins",
  unpin: "pins",
  delete: "deleting paths",
};

export interface HintContext {
  serverName: string;
  endpoint: string;
  hasToken: boolean;
  cache: string;
  action: Action;
  /** `exp` read from the token sent, in Unix seconds. */
  tokenExpiresAt?: number | undefined;
  /** Unix milliseconds; defaults to the clock. */
  now?: number;
}

export function permissionHint(error: unknown, ctx: HintContext): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const who = `server "${ctx.serverName}" (${ctx.endpoint})`;
  const expiresAt = ctx.tokenExpiresAt;
  if ((error.status === 401 || error.status === 403) && expiresAt !== undefined) {
    if (expiresAt * 1000 < (ctx.now ?? Date.now())) {
      return (
        `hint: the token of ${who} expired at ${new Date(expiresAt * 1000).toISOString()}, so the request was anonymous.\n` +
        `      Log in with a new token: garret login ${ctx.serverName} ${ctx.endpoint} <TOKEN>`
      );
    }
  }
  if (error.status === 401) {
    if (!ctx.hasToken) {
      return (
        `hint: ${who} has no token, so the request was anonymous; cache "${ctx.cache}" is private or the action needs ${NEEDS[ctx.action]}.\n` +
        `      Log in with a token: garret login ${ctx.serverName} ${ctx.endpoint} <TOKEN>`
      );
    }
    return (
      `hint: the token of ${who} was rejected or grants nothing on cache "${ctx.cache}" ` +
      `(an expired or foreign token is treated as anonymous, and caches you have no permission on look absent). ` +
      `This action needs ${NEEDS[ctx.action]}.`
    );
  }
  if (error.status === 403) {
    const extra =
      ctx.action === "read"
        ? ` Reading the cache configuration needs "r": a push-only token cannot read it.`
        : ctx.action === "configure-retention"
          ? ` Drop --retention-period/--reset-retention-period if you only need "cr".`
          : ctx.action === "delete"
            ? ` Mint one with: garretadm make-token --sub <NAME> --validity <DURATION> --delete ${ctx.cache}`
            : "";
    return `hint: the token of ${who} can see cache "${ctx.cache}" but lacks ${NEEDS[ctx.action]}.${extra}`;
  }
  if (error.status === 404 && error.body?.error === "NoSuchCache") {
    return `hint: create it with: garret cache create ${ctx.serverName}:${ctx.cache}`;
  }
  const extension = EXTENSIONS[ctx.action];
  if (extension && (error.status === 405 || (error.status === 404 && error.body?.error === "NotFound"))) {
    const orMissing = ctx.action === "unpin" && error.status === 404 ? "there is no such pin, or " : "";
    return `hint: ${orMissing}${who} does not support ${extension} (a garret extension; atticd has none).`;
  }
  return undefined;
}
