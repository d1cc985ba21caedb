/**
 * The zod schema of `server.toml`, key for key as atticd reads it (attic `server/src/config.rs`,
 * `storage/{local,s3}.rs`): kebab-case keys except `[storage.credentials]`, whose
 * `access_key_id` / `secret_access_key` are snake_case in atticd too. Every table is strict, so a
 * misspelt key is an error rather than a silently ignored setting.
 *
 * Field-level checks (types, bounds, durations, key material) live here so that one parse reports
 * every problem; environment fallbacks and defaults are applied afterwards by config.ts.
 */

import { DurationError, parseDurationSeconds } from "@garret/protocol";
import { z } from "zod";
import { garretTomlSchema } from "./garret-config.ts";
import { decodeSigningKey, type JwtSigning, SIGNING_KEYS, type SigningKeyName } from "./jwt-signing.ts";
import { parseListen } from "./listen.ts";
import { Secret } from "./secret.ts";
import { parseSqliteUrl } from "./sqlite-url.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** FastCDC's own limits on its three size parameters (attic `chunking`, fastcdc crate). */
export const CHUNK_SIZE_BOUNDS = {
  "min-size": [64, 64 * MIB],
  "avg-size": [256, 256 * MIB],
  "max-size": [KIB, GIB],
} as const;

/** attic's recommended values, which its first-start template writes. */
export const RECOMMENDED_CHUNKING = {
  narSizeThreshold: 65_536,
  minSize: 16_384,
  avgSize: 65_536,
  maxSize: 262_144,
} as const;

const DEPRECATED_HS256_MESSAGE = `the top-level "token-hs256-secret-base64" key has moved to the [jwt.signing] table.
To keep HS256 signing, delete the line
    token-hs256-secret-base64 = "..."
and add it again at the end of the file under a table header:
    [jwt.signing]
    token-hs256-secret-base64 = "..."`;

/** A problem with a database URL, or undefined when it is usable. Never repeats the URL. */
export function databaseUrlProblem(url: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") {
    const parsed = parseSqliteUrl(url);
    return typeof parsed === "string" ? parsed : undefined;
  }
  if (scheme !== "postgres" && scheme !== "postgresql") {
    return "unsupported database URL: expected postgresql://… (PostgreSQL) or sqlite://PATH?mode=rwc (SQLite)";
  }
  try {
    new URL(url);
  } catch {
    return "the PostgreSQL URL could not be parsed";
  }
  return undefined;
}

const uint = z.number().int().nonnegative();

const humantime = z.string().transform((text, ctx) => {
  try {
    return parseDurationSeconds(text);
  } catch (e) {
    if (!(e instanceof DurationError)) throw e;
    ctx.addIssue({ code: "custom", message: `${e.message} (e.g. "12 hours", "30d", "1y")` });
    return z.NEVER;
  }
});

const endpoint = z.string().superRefine((url, ctx) => {
  if (!URL.canParse(url)) ctx.addIssue({ code: "custom", message: `"${url}" is not an absolute URL` });
  else if (!url.endsWith("/")) ctx.addIssue({ code: "custom", message: `must end with "/" (got "${url}")` });
});

const listen = z.string().transform((text, ctx) => {
  try {
    return parseListen(text);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const databaseUrl = z.string().transform((url, ctx) => {
  const problem = databaseUrlProblem(url);
  if (problem) {
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  }
  return new Secret(url);
});

const chunkSize = (key: keyof typeof CHUNK_SIZE_BOUNDS) => {
  const [min, max] = CHUNK_SIZE_BOUNDS[key];
  return z
    .number()
    .int()
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max} bytes` });
};

const chunking = z
  .strictObject({
    "nar-size-threshold": uint,
    "min-size": chunkSize("min-size"),
    "avg-size": chunkSize("avg-size"),
    "max-size": chunkSize("max-size"),
  })
  .superRefine((c, ctx) => {
    if (c["min-size"] > c["avg-size"] || c["avg-size"] > c["max-size"]) {
      ctx.addIssue({ code: "custom", message: "min-size <= avg-size <= max-size must hold" });
    }
  });

const signingKey = (name: SigningKeyName) =>
  z.string().transform((base64, ctx): JwtSigning => {
    const r = decodeSigningKey(name, base64);
    if (r.ok) return r.signing;
    ctx.addIssue({ code: "custom", message: r.problem });
    return z.NEVER;
  });

const signing = z
  .strictObject({
    "token-rs256-pubkey-base64": signingKey("token-rs256-pubkey-base64").optional(),
    "token-rs256-secret-base64": signingKey("token-rs256-secret-base64").optional(),
    "token-hs256-secret-base64": signingKey("token-hs256-secret-base64").optional(),
  })
  .transform((table, ctx) => {
    const set = (Object.keys(SIGNING_KEYS) as SigningKeyName[]).filter((k) => table[k] !== undefined);
    if (set.length !== 1) {
      const names = Object.keys(SIGNING_KEYS).join(", ");
      ctx.addIssue({
        code: "custom",
        message:
          set.length === 0
            ? `the table is empty: set exactly one of ${names}`
            : `set exactly one signing key, found ${set.length}: ${set.join(", ")}`,
      });
      return z.NEVER;
    }
    return table[set[0] as SigningKeyName] as JwtSigning;
  });

export const serverTomlSchema = z.strictObject({
  listen: listen.optional(),
  "allowed-hosts": z.array(z.string()).optional(),
  "api-endpoint": endpoint.optional(),
  "substituter-endpoint": endpoint.optional(),
  "soft-delete-caches": z.boolean().optional(),
  "require-proof-of-possession": z.boolean().optional(),
  "max-nar-info-size": uint.optional(),
  database: z
    .strictObject({
      url: databaseUrl.optional(),
      heartbeat: z.boolean().optional(),
    })
    .optional(),
  storage: z.discriminatedUnion("type", [
    z.strictObject({ type: z.literal("local"), path: z.string().min(1) }),
    z.strictObject({
      type: z.literal("s3"),
      region: z.string(),
      bucket: z.string(),
      endpoint: z.string().optional(),
      credentials: z
        .strictObject({
          access_key_id: z.string(),
          secret_access_key: z.string().transform((s) => new Secret(s)),
        })
        .optional(),
    }),
  ]),
  chunking: chunking.optional(),
  compression: z
    .strictObject({
      type: z.enum(["none", "brotli", "zstd", "xz"]),
      level: z.number().int().optional(),
    })
    .optional(),
  "garbage-collection": z
    .strictObject({
      interval: humantime.optional(),
      "default-retention-period": humantime.optional(),
    })
    .optional(),
  jwt: z
    .strictObject({
      "token-bound-issuer": z.string().optional(),
      "token-bound-audiences": z.array(z.string()).optional(),
      signing: signing.optional(),
    })
    .optional(),
  /** garret's extensions (garret-config.ts); atticd would reject the key. */
  garret: garretTomlSchema.optional(),
  "token-hs256-secret-base64": z
    .unknown()
    .optional()
    .superRefine((v, ctx) => {
      if (v !== undefined) ctx.addIssue({ code: "custom", message: DEPRECATED_HS256_MESSAGE });
    }),
});

export type ServerToml = z.output<typeof serverTomlSchema>;

/** Turns zod's issues into `key.path: problem` lines, without ever echoing an input value. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push(`unknown key "${[...path, key].join(".")}"`);
      continue;
    }
    const where = path.length > 0 ? `${path.join(".")}: ` : "";
    out.push(`${where}${issue.message}`);
  }
  return out;
}

/**
 * The error map given to `safeParse`: it sees each raw issue with its input, which the final issues
 * do not carry, so "missing" and "wrong type" can be told apart. Custom issues keep their own text.
 */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? "required"
        : `expected ${tomlType(issue.expected)}, got ${tomlTypeOf(issue.input)}`;
    case "invalid_value":
      if (issue.input === undefined) return "required";
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}`;
    case "invalid_union":
      if ("discriminator" in issue && Array.isArray(issue.options)) {
        const options = (issue.options as unknown[]).map((v) => JSON.stringify(v)).join(" or ");
        const input = issue.input;
        const value =
          typeof input === "object" && input !== null
            ? (input as Record<string, unknown>)[String(issue.discriminator)]
            : input;
        return value === undefined ? `required (${options})` : `expected ${options}`;
      }
      return "invalid value";
    case "too_small":
      return issue.origin === "string" ? "must not be empty" : `must be at least ${issue.minimum}`;
    case "too_big":
      return `must be at most ${issue.maximum}`;
    default:
      return undefined;
  }
}

function tomlType(zodType: string): string {
  if (zodType === "object") return "a table";
  if (zodType === "number") return "a number";
  if (zodType === "int") return "an integer";
  if (zodType === "array") return "an array";
  return `a ${zodType}`;
}

function tomlTypeOf(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date-time";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a float";
  if (typeof value === "object" && value !== null) return "a table";
  return `a ${typeof value}`;
}
