/**
 * `/_api/v1/tokens` (garret extension, admin tokens only):
 *
 *     POST   /_api/v1/tokens          {"sub":"ci","validity":"1 day","caches":{"team-*":{"r":1,"w":1}},"admin":false}
 *                                     → {"token":"eyJ…","jti":"…","sub":"ci","exp":1764636000,"nbf":1764549600}
 *     GET    /_api/v1/tokens[?sub=ci][&all=1]   → {"tokens":[…],"revoked_subjects":[…]}
 *     DELETE /_api/v1/tokens/{jti}             → {"jti":"…","sub":"ci","revoked_at":…}
 *     DELETE /_api/v1/tokens?sub=ci            → {"sub":"ci","revoked_at":…,"tokens":2}
 *
 * `validity` is a humantime string or a number of seconds; `caches` uses the attic claim's layout
 * (letters r w d cc cr cq cd with value 1 or 0).
 */
import {
  DurationError,
  emptyPermission,
  hasControlChars,
  isValidCachePattern,
  PERMISSION_LETTERS,
  type PermissionLetter,
  parseDurationSeconds,
  plainText,
} from "@garret/protocol";
import type { CachePermissions } from "@garret/token";
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { requestError } from "../errors.ts";
import {
  listTokens,
  mintTokenForAdmin,
  revokeTokenByJti,
  revokeTokensOfSubject,
} from "../services/tokens.ts";
import { readJsonBody } from "./json-body.ts";

const bit = z.union([z.literal(0), z.literal(1)]);
const permissionSchema = z.strictObject(
  Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, bit.optional()])) as Record<
    PermissionLetter,
    z.ZodOptional<typeof bit>
  >,
);

export const validitySchema = z.union([z.string(), z.number().int()]).transform((v, ctx) => {
  let seconds: number;
  if (typeof v === "number") seconds = v;
  else {
    try {
      seconds = parseDurationSeconds(v);
    } catch (e) {
      if (!(e instanceof DurationError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message });
      return z.NEVER;
    }
  }
  if (seconds < 1) {
    ctx.addIssue({ code: "custom", message: "must be at least 1 second" });
    return z.NEVER;
  }
  return seconds;
});

const MintBodySchema = z.strictObject({
  sub: plainText(256).min(1),
  validity: validitySchema,
  caches: z.record(z.string(), permissionSchema),
  admin: z.boolean().optional(),
});

function toCachePermissions(caches: Record<string, z.infer<typeof permissionSchema>>): CachePermissions {
  return Object.entries(caches).map(([pattern, bits]) => {
    if (!isValidCachePattern(pattern)) throw requestError(`"${pattern}" is not a valid cache name pattern`);
    const permission = emptyPermission();
    for (const letter of PERMISSION_LETTERS) permission[letter] = bits[letter] === 1;
    return [pattern, permission];
  });
}

/** A subject or jti from the URL: no control characters (a NUL would reach the database). */
function textParam(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && hasControlChars(value))
    throw requestError(`${name} must not contain control characters`);
  return value;
}

export const tokenRoutes = new Hono<AppEnv>()
  .post("/", async (c) => {
    const body = await readJsonBody(c, MintBodySchema);
    const minted = await mintTokenForAdmin(c.get("deps"), c.get("token"), {
      sub: body.sub,
      validitySeconds: body.validity,
      caches: toCachePermissions(body.caches),
      admin: body.admin ?? false,
    });
    return c.json(minted);
  })
  .get("/", async (c) => {
    const sub = textParam("sub", c.req.query("sub"));
    const all = c.req.query("all");
    const listing = await listTokens(c.get("deps"), c.get("token"), {
      ...(sub !== undefined && { sub }),
      includeExpired: all === "1" || all === "true",
    });
    return c.json(listing);
  })
  .delete("/", async (c) => {
    const sub = textParam("sub", c.req.query("sub"));
    if (sub === undefined)
      throw requestError("give a token id (DELETE /_api/v1/tokens/{jti}) or ?sub=SUBJECT");
    return c.json(await revokeTokensOfSubject(c.get("deps"), c.get("token"), sub));
  })
  .delete("/:jti", async (c) => {
    const jti = textParam("jti", c.req.param("jti")) ?? "";
    return c.json(await revokeTokenByJti(c.get("deps"), c.get("token"), jti));
  });
