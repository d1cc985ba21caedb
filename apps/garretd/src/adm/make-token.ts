/**
 * `garretadm make-token`: mints a token exactly as `atticadm make-token` does (attic
 * `server/src/adm/command/make_token.rs`).
 *
 *     garretadm make-token --sub alice --validity 3months --pull 'alice-*' --push 'alice-*'
 *
 * Patterns enter the token grouped by flag — every --pull first, then --push, --delete,
 * --create-cache, --configure-cache, --configure-cache-retention, --destroy-cache — and a pattern
 * given to several flags is one entry at its first position. Since the first matching pattern
 * decides a token's permissions, that order matters. `exp` = now + validity, `nbf` = now,
 * `iss`/`aud` come from `[jwt] token-bound-issuer` / `token-bound-audiences`. `--dump-claims`
 * prints the unsigned claims without iss/aud, as atticadm does.
 *
 * garret additions: `--admin` adds garret's admin claim (token administration over HTTP; atticd
 * ignores it). When the database can be written (Postgres that answers within a few seconds, or
 * the embedded database while garretd is stopped), the token also gets a `jti` and is recorded,
 * so `garretadm tokens` and `/_api/v1/tokens` can list and revoke it; otherwise (garretd holds the
 * embedded database, database down) it is minted exactly as atticadm would, with a warning saying
 * why, and can still be revoked by subject.
 */

import { randomUUID } from "node:crypto";
import { type OptionSpecs, parseOptions } from "@garret/cli";
import { insertTokenRecord } from "@garret/db";
import {
  DurationError,
  emptyPermission,
  isValidCachePattern,
  type Permission,
  type PermissionLetter,
  parseDurationSeconds,
} from "@garret/protocol";
import {
  type CachePermissions,
  createTokenAuthority,
  garretGrantClaims,
  serializeClaims,
} from "@garret/token";
import { type Config, tokenKeyConfig } from "../config/config.ts";
import { cachesJson } from "../services/tokens.ts";
import type { AdmContext } from "./command.ts";
import { type AdmCommand, AdmError, UsageError } from "./command.ts";

/** Flag → permission letter, in the order atticadm grants them. */
const GRANT_FLAGS = [
  ["pull", "r"],
  ["push", "w"],
  ["delete", "d"],
  ["create-cache", "cc"],
  ["configure-cache", "cr"],
  ["configure-cache-retention", "cq"],
  ["destroy-cache", "cd"],
] as const satisfies readonly (readonly [string, PermissionLetter])[];

const USAGE = `Usage: garretadm make-token --sub <SUB> --validity <VALIDITY> [OPTIONS]

Generate a new token. For example, a token for alice with read-write access to every cache
starting with "dev-" and read-only access to "prod", expiring in 2 years:

    garretadm make-token --sub alice --validity 2y --pull 'dev-*' --push 'dev-*' --pull prod

Options:
      --sub <SUB>                    The subject (user name) of the token
      --validity <VALIDITY>          How long the token is valid: "2 years", "3 months", "1y"
      --dump-claims                  Print the claims as JSON instead of a signed token
      --admin                        Let the token administer tokens over HTTP (garret extension)
      --pull <PATTERN>               A cache the token may pull from
      --push <PATTERN>               A cache the token may push to
      --delete <PATTERN>             A cache the token may delete store paths from
      --create-cache <PATTERN>       A cache the token may create
      --configure-cache <PATTERN>    A cache the token may configure
      --configure-cache-retention <PATTERN>
                                     A cache the token may configure retention/quota for
      --destroy-cache <PATTERN>      A cache the token may destroy
  -h, --help                         Print this help

Patterns may contain "*" wildcards; give a flag several times for several patterns.
`;

const OPTIONS = {
  sub: { type: "string" },
  validity: { type: "string" },
  "dump-claims": { type: "boolean" },
  admin: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...Object.fromEntries(GRANT_FLAGS.map(([flag]) => [flag, { type: "string", multiple: true }])),
} as const satisfies OptionSpecs;

export interface MakeTokenRequest {
  sub: string;
  validitySeconds: number;
  caches: CachePermissions;
  dumpClaims: boolean;
  admin: boolean;
}

/** Parses make-token's arguments; `null` for --help. Throws UsageError. */
export function parseMakeTokenArgs(args: string[]): MakeTokenRequest | null {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseOptions(args, OPTIONS, { allowPositionals: false }) as {
      values: typeof values;
      positionals: string[];
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  const sub = values.sub;
  const validity = values.validity;
  if (typeof sub !== "string")
    throw new UsageError("the following required argument was not provided: --sub <SUB>");
  if (typeof validity !== "string") {
    throw new UsageError("the following required argument was not provided: --validity <VALIDITY>");
  }
  let validitySeconds: number;
  try {
    validitySeconds = parseDurationSeconds(validity);
  } catch (e) {
    if (!(e instanceof DurationError)) throw e;
    throw new UsageError(`invalid value "${validity}" for --validity: ${e.message}`);
  }

  const entries = new Map<string, Permission>();
  for (const [flag, letter] of GRANT_FLAGS) {
    for (const pattern of (values[flag] as string[] | undefined) ?? []) {
      if (!isValidCachePattern(pattern)) {
        throw new UsageError(
          `invalid value "${pattern}" for --${flag}: not a valid cache name pattern ` +
            "(1-50 characters of A-Z a-z 0-9 _ + - and *, not starting with _ + or -)",
        );
      }
      let permission = entries.get(pattern);
      if (!permission) {
        permission = emptyPermission();
        entries.set(pattern, permission);
      }
      permission[letter] = true;
    }
  }
  return {
    sub,
    validitySeconds,
    caches: [...entries],
    dumpClaims: values["dump-claims"] === true,
    admin: values.admin === true,
  };
}

export const makeTokenCommand: AdmCommand = {
  usage: USAGE,
  async run(args, ctx) {
    const request = parseMakeTokenArgs(args);
    if (!request) {
      ctx.io.stdout(USAGE);
      return 0;
    }
    const config = ctx.loadConfig();
    const now = Math.floor(ctx.now() / 1000);
    const { sub, validitySeconds, caches } = request;
    const extraClaims = garretGrantClaims({ admin: request.admin });
    if (request.dumpClaims) {
      ctx.io.stdout(`${serializeClaims({ sub, validitySeconds, caches, now, extraClaims })}\n`);
      return 0;
    }
    if (config.jwt.signing.kind === "rs256-pubkey") {
      throw new AdmError("Pubkey-only JWT authentication cannot create signed JWTs");
    }
    const { boundIssuer, boundAudiences } = config.jwt;
    const bounds = {
      ...(boundIssuer !== undefined && { issuer: boundIssuer }),
      ...(boundAudiences !== undefined && { audiences: boundAudiences }),
    };
    const authority = await createTokenAuthority(tokenKeyConfig(config.jwt.signing), bounds);
    const jti = await recordIfPossible(ctx, config, request, now);
    const token = await authority.mint({
      sub,
      validitySeconds,
      caches,
      now,
      extraClaims,
      ...(jti !== undefined && { jti }),
      ...bounds,
    });
    ctx.io.stdout(`${token}\n`);
    return 0;
  },
};

/** The recorded token's jti, or undefined when the database cannot be written now (after a warning). */
async function recordIfPossible(
  ctx: AdmContext,
  config: Config,
  request: MakeTokenRequest,
  now: number,
): Promise<string | undefined> {
  const jti = randomUUID();
  try {
    const db = await ctx.openDatabase(config, { connectTimeoutMs: 3000 });
    try {
      await insertTokenRecord(db, {
        jti,
        sub: request.sub,
        permissions: JSON.stringify(cachesJson(request.caches)),
        admin: request.admin,
        expiresAt: now + request.validitySeconds,
        origin: "garretadm",
        mintedBy: "garretadm",
      });
    } finally {
      await db.close();
    }
    return jti;
  } catch (err) {
    ctx.io.stderr(
      `warning: the token is not recorded (${(err as Error).message}); it can only be revoked by subject\n`,
    );
    return undefined;
  }
}
