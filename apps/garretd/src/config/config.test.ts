import { generateKeyPairSync } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { type Config, ConfigError, type LoadConfigInput, loadConfig, parseConfig, Secret } from "./config.ts";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PKCS1_PRIVATE = rsa.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const PKCS8_PRIVATE = rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const SPKI_PUBLIC = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const PKCS1_PUBLIC = rsa.publicKey.export({ type: "pkcs1", format: "pem" }) as string;
const EC_PRIVATE = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
  type: "pkcs8",
  format: "pem",
}) as string;
const SMALL_RSA_PRIVATE = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
  type: "pkcs1",
  format: "pem",
}) as string;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

const HS256_B64 = "wyjO1mgaJ1CJqU+JHTJthKBRBBudwyDkBu/+y97hbsA="; // decodes to c3 28 … (not UTF-8)
const MINIMAL = `
[storage]
type = "local"
path = "/var/lib/garret/storage"

[jwt.signing]
token-hs256-secret-base64 = "${HS256_B64}"
`;

/** An atticd server.toml as the NixOS module writes it (keys sorted), S3 storage with credentials. */
const NIXOS_STYLE = `
allowed-hosts = ["cache.example.com", "cache.internal"]
api-endpoint = "https://cache.example.com/"
listen = "[::]:8080"
max-nar-info-size = 2097152
require-proof-of-possession = false
soft-delete-caches = true
substituter-endpoint = "https://nix.example.com/cache/"

[chunking]
avg-size = 65536
max-size = 262144
min-size = 16384
nar-size-threshold = 65536

[compression]
level = 12
type = "zstd"

[database]
heartbeat = true
url = "postgresql://atticd:db-pass-42@db.internal:5432/atticd?sslmode=require"

[garbage-collection]
default-retention-period = "10y"
interval = "12 hours"

[jwt]
token-bound-audiences = ["cache", "ci"]
token-bound-issuer = "https://auth.example.com"

[storage]
bucket = "nix-cache"
endpoint = "https://s3.example.com"
region = "eu-central-1"
type = "s3"

[storage.credentials]
access_key_id = "AKIAEXAMPLE"
secret_access_key = "s3-very-secret"
`;

const HOME_ENV = { HOME: "/home/u" };

function parse(text: string, env: Record<string, string | undefined> = HOME_ENV): Config {
  return parseConfig(text, { source: "test.toml", env });
}

function problemsOf(text: string, env: Record<string, string | undefined> = HOME_ENV): readonly string[] {
  try {
    parse(text, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

function fsInput(files: Record<string, string>, extra: Partial<LoadConfigInput> = {}): LoadConfigInput {
  return {
    env: HOME_ENV,
    readFile: (p) => {
      const text = files[p];
      if (text === undefined) throw new Error(`ENOENT: ${p}`);
      return text;
    },
    fileExists: (p) => p in files,
    ...extra,
  };
}

describe("parseConfig: a full atticd deployment", () => {
  const env = { ...HOME_ENV, ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64: b64(PKCS1_PRIVATE) };
  const config = parse(NIXOS_STYLE, env);

  it("maps every key to the camelCase Config", () => {
    expect(config).toEqual({
      listen: { host: "::", port: 8080 },
      allowedHosts: ["cache.example.com", "cache.internal"],
      apiEndpoint: "https://cache.example.com/",
      substituterEndpoint: "https://nix.example.com/cache/",
      softDeleteCaches: true,
      requireProofOfPossession: false,
      maxNarInfoSize: 2_097_152,
      database: { kind: "postgres", url: expect.any(Secret), heartbeat: true },
      storage: {
        type: "s3",
        region: "eu-central-1",
        bucket: "nix-cache",
        endpoint: "https://s3.example.com",
        credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: expect.any(Secret) },
      },
      chunking: { narSizeThreshold: 65_536, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
      compression: { type: "zstd", level: 12 },
      garbageCollection: { intervalSeconds: 43_200, defaultRetentionPeriodSeconds: 315_576_000 },
      jwt: {
        boundIssuer: "https://auth.example.com",
        boundAudiences: ["cache", "ci"],
        signing: { kind: "rs256", privateKeyPem: expect.any(Secret) },
      },
      garret: {
        gcPendingGraceSeconds: 21600,
        storageRequestTimeoutMs: 60_000,
        uploadMemoryBytes: 64 * 1024 * 1024,
        uploadMemoryWaitMs: 20_000,
        revocationRefreshMs: 5000,
        metricsRefreshMs: 60_000,
        chunkUploadMaxRequestBytes: 33_554_432,
        requestHeaderTimeoutMs: 30_000,
        requestIdleTimeoutMs: 60_000,
        maxConnections: 1024,
        oidc: [],
        upstream: {
          defaults: [],
          narInfoTimeoutMs: 3000,
          narTimeoutMs: 20_000,
          negativeTtlMs: 30_000,
          maxConcurrentFetches: 8,
          maxBytesInFlight: 4 * 1024 ** 3,
        },
      },
      source: "test.toml",
      dataDir: "/home/u/.local/share/garret",
    });
  });

  it("keeps the secret values behind expose()", () => {
    if (config.database.kind !== "postgres" || config.storage.type !== "s3") throw new Error("wrong kinds");
    expect(config.database.url.expose()).toBe(
      "postgresql://atticd:db-pass-42@db.internal:5432/atticd?sslmode=require",
    );
    expect(config.storage.credentials?.secretAccessKey.expose()).toBe("s3-very-secret");
    if (config.jwt.signing.kind !== "rs256") throw new Error("wrong signing kind");
    // Re-encoded as PKCS#8: the same key in the form every consumer accepts.
    expect(config.jwt.signing.privateKeyPem.expose()).toBe(PKCS8_PRIVATE);
  });

  it("never shows a secret in inspect or JSON output", () => {
    const printed = [inspect(config, { depth: 20 }), JSON.stringify(config)];
    for (const text of printed) {
      for (const secret of ["db-pass-42", "s3-very-secret", "PRIVATE KEY", b64(PKCS1_PRIVATE).slice(0, 40)]) {
        expect(text).not.toContain(secret);
      }
      expect(text).toContain("[redacted]");
    }
  });
});

describe("parseConfig: defaults", () => {
  it("fills atticd's defaults and garret's SQLite / chunking fallbacks", () => {
    const config = parse(MINIMAL);
    expect(config).toEqual({
      listen: { host: "::", port: 8080 },
      allowedHosts: [],
      softDeleteCaches: false,
      requireProofOfPossession: true,
      maxNarInfoSize: 1_048_576,
      database: {
        kind: "sqlite",
        path: "/home/u/.local/share/garret/server.db",
        mode: "rwc",
        embedded: true,
      },
      storage: { type: "local", path: "/var/lib/garret/storage" },
      chunking: { narSizeThreshold: 65_536, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
      compression: { type: "zstd" },
      garbageCollection: { intervalSeconds: 43_200, defaultRetentionPeriodSeconds: 0 },
      jwt: { signing: { kind: "hs256", secret: expect.any(Secret) } },
      garret: {
        gcPendingGraceSeconds: 21600,
        storageRequestTimeoutMs: 60_000,
        uploadMemoryBytes: 64 * 1024 * 1024,
        uploadMemoryWaitMs: 20_000,
        revocationRefreshMs: 5000,
        metricsRefreshMs: 60_000,
        chunkUploadMaxRequestBytes: 33_554_432,
        requestHeaderTimeoutMs: 30_000,
        requestIdleTimeoutMs: 60_000,
        maxConnections: 1024,
        oidc: [],
        upstream: {
          defaults: [],
          narInfoTimeoutMs: 3000,
          narTimeoutMs: 20_000,
          negativeTtlMs: 30_000,
          maxConcurrentFetches: 8,
          maxBytesInFlight: 4 * 1024 ** 3,
        },
      },
      source: "test.toml",
      dataDir: "/home/u/.local/share/garret",
    });
    if (config.jwt.signing.kind !== "hs256") throw new Error("wrong signing kind");
    expect(Buffer.from(config.jwt.signing.secret.expose()).toString("hex")).toBe(
      Buffer.from(HS256_B64, "base64").toString("hex"),
    );
    expect(config.jwt.signing.secret.expose()[0]).toBe(0xc3);
  });

  it("puts the data directory at GARRET_DATA_DIR, else XDG_DATA_HOME/garret", () => {
    expect(parse(MINIMAL, { HOME: "/h", GARRET_DATA_DIR: "/srv/garret" }).database).toEqual({
      kind: "sqlite",
      path: "/srv/garret/server.db",
      mode: "rwc",
      embedded: true,
    });
    expect(parse(MINIMAL, { HOME: "/h", XDG_DATA_HOME: "/xdg/data" }).dataDir).toBe("/xdg/data/garret");
    expect(parse(MINIMAL, { HOME: "/h", XDG_DATA_HOME: "" }).dataDir).toBe("/h/.local/share/garret");
    expect(parse(MINIMAL, { STATE_DIRECTORY: "/var/lib/atticd" }).dataDir).toBe("/var/lib/atticd");
  });

  it("fails clearly when the embedded database has no place for its data", () => {
    expect(problemsOf(MINIMAL, {})).toEqual([
      "cannot determine the data directory for the embedded database: set GARRET_DATA_DIR or HOME",
    ]);
  });

  it("reads humantime durations", () => {
    const gc = (interval: string, retention: string) =>
      parse(
        `${MINIMAL}\n[garbage-collection]\ninterval = "${interval}"\ndefault-retention-period = "${retention}"\n`,
      ).garbageCollection;
    expect(gc("12 hours", "3 months")).toEqual({
      intervalSeconds: 43_200,
      defaultRetentionPeriodSeconds: 7_890_048,
    });
    expect(gc("1h 30m", "1y")).toEqual({ intervalSeconds: 5_400, defaultRetentionPeriodSeconds: 31_557_600 });
    expect(gc("0s", "2w")).toEqual({ intervalSeconds: 0, defaultRetentionPeriodSeconds: 1_209_600 });
  });

  it("accepts every compression type, with and without a level", () => {
    for (const type of ["none", "brotli", "zstd", "xz"] as const) {
      expect(parse(`${MINIMAL}\n[compression]\ntype = "${type}"\n`).compression).toEqual({ type });
    }
    expect(parse(`${MINIMAL}\n[compression]\ntype = "xz"\nlevel = 6\n`).compression).toEqual({
      type: "xz",
      level: 6,
    });
  });

  it("accepts postgres:// and socket-directory URLs", () => {
    for (const url of ["postgres://u@localhost/db", "postgresql:///atticd?host=/run/postgresql"]) {
      const config = parse(`${MINIMAL}\n[database]\nurl = "${url}"\n`);
      expect(config.database.kind).toBe("postgres");
      if (config.database.kind === "postgres") expect(config.database.url.expose()).toBe(url);
    }
  });
});

describe("parseConfig: JWT signing keys", () => {
  const withSigning = (lines: string) => `
[storage]
type = "local"
path = "/s"
[jwt.signing]
${lines}
`;

  it("accepts PKCS#1 and PKCS#8 private keys, and SPKI and PKCS#1 public keys", () => {
    for (const pem of [PKCS1_PRIVATE, PKCS8_PRIVATE]) {
      const { signing } = parse(withSigning(`token-rs256-secret-base64 = "${b64(pem)}"`)).jwt;
      expect(signing.kind).toBe("rs256");
      if (signing.kind === "rs256") expect(signing.privateKeyPem.expose()).toBe(PKCS8_PRIVATE);
    }
    for (const pem of [SPKI_PUBLIC, PKCS1_PUBLIC]) {
      expect(parse(withSigning(`token-rs256-pubkey-base64 = "${b64(pem)}"`)).jwt.signing).toEqual({
        kind: "rs256-pubkey",
        publicKeyPem: SPKI_PUBLIC,
      });
    }
  });

  it("rejects two keys at once", () => {
    expect(
      problemsOf(
        withSigning(
          `token-hs256-secret-base64 = "${HS256_B64}"\ntoken-rs256-secret-base64 = "${b64(PKCS1_PRIVATE)}"`,
        ),
      ),
    ).toEqual([
      "jwt.signing: set exactly one signing key, found 2: token-rs256-secret-base64, token-hs256-secret-base64",
    ]);
  });

  it("rejects an empty [jwt.signing] table", () => {
    expect(problemsOf(withSigning(""))).toEqual([
      "jwt.signing: the table is empty: set exactly one of token-rs256-pubkey-base64, token-rs256-secret-base64, token-hs256-secret-base64",
    ]);
  });

  it("explains what to do when no key is configured anywhere", () => {
    const problems = problemsOf(`[storage]\ntype = "local"\npath = "/s"\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^jwt\.signing: no JWT signing key is configured/);
    for (const name of [
      "token-rs256-secret-base64",
      "token-rs256-pubkey-base64",
      "token-hs256-secret-base64",
      "ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64, ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64, ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64",
    ]) {
      expect(problems[0]).toContain(name);
    }
  });

  it("rejects bad key material without echoing it", () => {
    const cases: [string, string][] = [
      [
        `token-hs256-secret-base64 = "SECRETVALUE!!not*base64"`,
        "jwt.signing.token-hs256-secret-base64: not valid base64",
      ],
      [`token-hs256-secret-base64 = ""`, "jwt.signing.token-hs256-secret-base64: the HMAC secret is empty"],
      [
        `token-rs256-secret-base64 = "${b64("SECRETVALUE is no PEM")}"`,
        "jwt.signing.token-rs256-secret-base64: does not decode to a PEM RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
      ],
      [
        `token-rs256-secret-base64 = "${b64("-----BEGIN RSA PRIVATE KEY-----\nSECRETVALUE\n-----END RSA PRIVATE KEY-----\n")}"`,
        "jwt.signing.token-rs256-secret-base64: the PEM private key could not be parsed",
      ],
      [
        `token-rs256-secret-base64 = "${b64(EC_PRIVATE)}"`,
        "jwt.signing.token-rs256-secret-base64: holds a ec key, not RSA",
      ],
      [
        `token-rs256-secret-base64 = "${b64(SMALL_RSA_PRIVATE)}"`,
        "jwt.signing.token-rs256-secret-base64: the RSA key has 1024 bits; at least 2048 are required",
      ],
      [
        `token-rs256-pubkey-base64 = "${b64(PKCS1_PRIVATE)}"`,
        "jwt.signing.token-rs256-pubkey-base64: does not decode to a PEM RSA public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
      ],
    ];
    for (const [line, problem] of cases) {
      let message = "";
      try {
        parse(withSigning(line));
      } catch (e) {
        message = (e as Error).message;
        expect((e as ConfigError).problems).toEqual([problem]);
      }
      expect(message).toContain(problem);
      expect(message).not.toContain("SECRETVALUE");
      expect(message).not.toContain("MII"); // no key material either
    }
  });
});

describe("parseConfig: environment fallbacks", () => {
  const noSigning = `[storage]\ntype = "local"\npath = "/s"\n`;

  it("tries the RS256 pubkey, then the RS256 secret, then the HS256 secret", () => {
    const all = {
      ...HOME_ENV,
      ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64: b64(SPKI_PUBLIC),
      ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64: b64(PKCS1_PRIVATE),
      ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64: HS256_B64,
    };
    expect(parse(noSigning, all).jwt.signing.kind).toBe("rs256-pubkey");
    expect(parse(noSigning, { ...all, ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64: "" }).jwt.signing.kind).toBe(
      "rs256",
    );
    expect(
      parse(noSigning, { ...HOME_ENV, ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64: HS256_B64 }).jwt.signing.kind,
    ).toBe("hs256");
  });

  it("prefers [jwt.signing] over the environment", () => {
    expect(
      parse(MINIMAL, { ...HOME_ENV, ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64: b64(PKCS1_PRIVATE) }).jwt.signing
        .kind,
    ).toBe("hs256");
  });

  it("names the variable holding a bad key, without its value", () => {
    const env = { ...HOME_ENV, ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64: "SECRETVALUE" };
    expect(problemsOf(noSigning, env)).toEqual([
      "ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64: does not decode to a PEM RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
    ]);
  });

  it("takes ATTIC_SERVER_DATABASE_URL when the file has no url, as atticd does", () => {
    const env = { ...HOME_ENV, ATTIC_SERVER_DATABASE_URL: "postgresql://env@db/env" };
    const fromEnv = parse(MINIMAL, env).database;
    expect(fromEnv.kind === "postgres" && fromEnv.url.expose()).toBe("postgresql://env@db/env");
    const fromFile = parse(
      `${MINIMAL}\n[database]\nurl = "postgresql://file@db/file"\nheartbeat = true\n`,
      env,
    ).database;
    expect(fromFile.kind === "postgres" && fromFile.url.expose()).toBe("postgresql://file@db/file");
    const heartbeat = parse(`${MINIMAL}\n[database]\nheartbeat = true\n`, env).database;
    expect(heartbeat).toEqual({ kind: "postgres", url: expect.any(Secret), heartbeat: true });
  });

  it("reads atticd's SQLite URLs, from the file or the environment", () => {
    const env = { ...HOME_ENV, ATTIC_SERVER_DATABASE_URL: "sqlite:///var/lib/atticd/server.db?mode=rwc" };
    expect(parse(MINIMAL, env).database).toEqual({
      kind: "sqlite",
      path: "/var/lib/atticd/server.db",
      mode: "rwc",
      embedded: false,
    });
    const db = (url: string) => parse(`${MINIMAL}\n[database]\nurl = "${url}"\n`, env).database;
    expect(db("sqlite:/srv/attic%20db/server.db")).toMatchObject({
      path: "/srv/attic db/server.db",
      mode: "rw",
    });
    expect(db("sqlite://server.db?mode=rw")).toMatchObject({ path: "server.db", mode: "rw" });
    expect(db("sqlite::memory:")).toMatchObject({ path: ":memory:" });
    expect(problemsOf(`${MINIMAL}\n[database]\nurl = "sqlite:///x.db?mode=ro"\n`)[0]).toMatch(
      /^database\.url: SQLite mode=ro is not supported/,
    );
  });
});

describe("parseConfig: rejections", () => {
  it("reports unknown keys with their full path, in every table", () => {
    expect(
      problemsOf(`tokio-console = true
${MINIMAL}
[chunking]
nar-size-threshold = 1
min-size = 64
avg-size = 256
max-size = 1024
foo = 1
[storage.credentials]
access_key_id = "a"
[garret]
x = 1
`),
    ).toEqual([
      'unknown key "storage.credentials"',
      'unknown key "chunking.foo"',
      'unknown key "garret.x"',
      'unknown key "tokio-console"',
    ]);
  });

  it("reports missing keys and wrong types", () => {
    expect(
      problemsOf(`
listen = 8080
allowed-hosts = "cache.example.com"
soft-delete-caches = "yes"
max-nar-info-size = -1
[storage]
type = "s3"
region = "us-east-1"
[compression]
level = 3
[jwt.signing]
token-hs256-secret-base64 = "${HS256_B64}"
`),
    ).toEqual([
      "listen: expected a string, got an integer",
      "allowed-hosts: expected an array, got a string",
      "soft-delete-caches: expected a boolean, got a string",
      "max-nar-info-size: must be at least 0",
      "storage.bucket: required",
      "compression.type: required",
    ]);
  });

  it("requires [storage] and its type", () => {
    expect(problemsOf(`[jwt.signing]\ntoken-hs256-secret-base64 = "${HS256_B64}"\n`)).toEqual([
      "storage: required",
    ]);
    expect(
      problemsOf(`[storage]\npath = "/x"\n[jwt.signing]\ntoken-hs256-secret-base64 = "${HS256_B64}"\n`),
    ).toEqual(['storage.type: required ("local" or "s3")']);
    expect(
      problemsOf(`[storage]\ntype = "gcs"\n[jwt.signing]\ntoken-hs256-secret-base64 = "${HS256_B64}"\n`),
    ).toEqual(['storage.type: expected "local" or "s3"']);
  });

  it("rejects a bad compression type and a bad listen address", () => {
    expect(problemsOf(`listen = "localhost:8080"\n${MINIMAL}\n[compression]\ntype = "lz4"\n`)).toEqual([
      'listen: invalid socket address "localhost:8080": expected IPv4:port or [IPv6]:port, e.g. "[::]:8080"',
      'compression.type: expected "none" or "brotli" or "zstd" or "xz"',
    ]);
  });

  it("requires endpoints to be absolute URLs ending with a slash", () => {
    expect(
      problemsOf(`api-endpoint = "https://cache.example.com"\nsubstituter-endpoint = "cache/"\n${MINIMAL}`),
    ).toEqual([
      'api-endpoint: must end with "/" (got "https://cache.example.com")',
      'substituter-endpoint: "cache/" is not an absolute URL',
    ]);
  });

  it("rejects bad durations", () => {
    expect(
      problemsOf(`${MINIMAL}\n[garbage-collection]\ninterval = "12"\ndefault-retention-period = 3600\n`),
    ).toEqual([
      'garbage-collection.interval: invalid duration "12": expected <number><unit> (e.g. "12 hours", "30d", "1y")',
      "garbage-collection.default-retention-period: expected a string, got an integer",
    ]);
  });

  it("requires all four chunking keys once the table is present", () => {
    expect(problemsOf(`${MINIMAL}\n[chunking]\nnar-size-threshold = 0\nmin-size = 1024\n`)).toEqual([
      "chunking.avg-size: required",
      "chunking.max-size: required",
    ]);
  });

  it("enforces FastCDC's size limits and min <= avg <= max", () => {
    const chunking = (min: number, avg: number, max: number) =>
      problemsOf(
        `${MINIMAL}\n[chunking]\nnar-size-threshold = 0\nmin-size = ${min}\navg-size = ${avg}\nmax-size = ${max}\n`,
      );
    expect(chunking(63, 255, 1023)).toEqual([
      "chunking.min-size: must be between 64 and 67108864 bytes",
      "chunking.avg-size: must be between 256 and 268435456 bytes",
      "chunking.max-size: must be between 1024 and 1073741824 bytes",
    ]);
    expect(chunking(64 * 2 ** 20 + 1, 256 * 2 ** 20 + 1, 2 ** 30 + 1)).toHaveLength(3);
    expect(chunking(65_536, 16_384, 262_144)).toEqual([
      "chunking: min-size <= avg-size <= max-size must hold",
    ]);
    expect(chunking(1024, 4096, 2048)).toEqual(["chunking: min-size <= avg-size <= max-size must hold"]);
    expect(
      parse(
        `${MINIMAL}\n[chunking]\nnar-size-threshold = 0\nmin-size = 64\navg-size = 256\nmax-size = 1024\n`,
      ).chunking,
    ).toEqual({ narSizeThreshold: 0, minSize: 64, avgSize: 256, maxSize: 1024 });
  });

  it("names both supported schemes for an unknown database URL", () => {
    const problems = problemsOf(`${MINIMAL}\n[database]\nurl = "mysql://db/attic"\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("postgresql://");
    expect(problems[0]).toContain("sqlite://");
  });

  it("rejects other database URLs without echoing their password", () => {
    const err = (() => {
      try {
        parse(`${MINIMAL}\n[database]\nurl = "mysql://root:hunter2@db/attic"\n`);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(err.problems).toEqual([
      "database.url: unsupported database URL: expected postgresql://… (PostgreSQL) or sqlite://PATH?mode=rwc (SQLite)",
    ]);
    expect(err.message).not.toContain("hunter2");
  });

  it("tells users of the old top-level HMAC key to move it", () => {
    const problems = problemsOf(`token-hs256-secret-base64 = "${HS256_B64}"\n${MINIMAL}`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^token-hs256-secret-base64: the top-level "token-hs256-secret-base64" key has moved to the \[jwt\.signing\] table/,
    );
    expect(problems[0]).not.toContain(HS256_B64);
  });

  it("reports TOML syntax errors by position, without quoting the file", () => {
    const err = (() => {
      try {
        parse(`${MINIMAL}\n[database]\nurl = "postgresql://u:hunter2@db/x\n`);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(err.problems[0]).toMatch(/^TOML syntax error at line 10, column \d+: /);
    expect(err.message).not.toContain("hunter2");
  });

  it("collects problems from every table in one error", () => {
    const err = (() => {
      try {
        parse(`listen = "nope"\n[storage]\ntype = "local"\n[chunking]\nmin-size = 1\n`);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(err.problems.length).toBeGreaterThanOrEqual(5);
    expect(err.message).toMatch(/^invalid configuration \(test\.toml\):\n {2}- listen: /);
  });
});

describe("loadConfig: where the configuration comes from", () => {
  const attic = "/home/u/.config/attic/server.toml";
  const garret = "/home/u/.config/garret/server.toml";
  const other = "/etc/atticd.toml";
  const text = (port: number) => `listen = "127.0.0.1:${port}"\n${MINIMAL}`;

  it("prefers -f, then ATTIC_SERVER_CONFIG_BASE64, then attic's file, then garret's", () => {
    const files = { [attic]: text(2), [garret]: text(3), [other]: text(1) };
    const env = { ...HOME_ENV, ATTIC_SERVER_CONFIG_BASE64: b64(text(4)) };
    const port = (input: LoadConfigInput) => loadConfig(input)?.listen.port;
    expect(port(fsInput(files, { configPath: other, env }))).toBe(1);
    expect(port(fsInput(files, { env }))).toBe(4);
    expect(port(fsInput(files))).toBe(2);
    expect(port(fsInput({ [garret]: text(3) }))).toBe(3);
    expect(loadConfig(fsInput(files, { configPath: other }))?.source).toBe(other);
    expect(loadConfig(fsInput(files, { env }))?.source).toBe("ATTIC_SERVER_CONFIG_BASE64");
    expect(loadConfig(fsInput(files))?.source).toBe(attic);
  });

  it("follows XDG_CONFIG_HOME", () => {
    const input = fsInput(
      { "/xdg/attic/server.toml": text(5) },
      { env: { HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" } },
    );
    expect(loadConfig(input)?.listen.port).toBe(5);
  });

  it("returns null when there is no configuration, so the caller can run the first start", () => {
    expect(loadConfig(fsInput({}))).toBeNull();
    expect(loadConfig(fsInput({}, { env: {} }))).toBeNull();
    expect(loadConfig(fsInput({}, { env: { ...HOME_ENV, ATTIC_SERVER_CONFIG_BASE64: "" } }))).toBeNull();
  });

  it("fails when the -f file is missing or unreadable, or the base64 is bad", () => {
    expect(() => loadConfig(fsInput({}, { configPath: other }))).toThrow(
      "invalid configuration (/etc/atticd.toml):\n  - the configuration file does not exist",
    );
    const unreadable = {
      ...fsInput({}),
      fileExists: () => true,
      readFile: () => {
        throw new Error("EACCES: permission denied");
      },
    };
    expect(() => loadConfig({ ...unreadable, configPath: other })).toThrow(
      "cannot read the file: EACCES: permission denied",
    );
    expect(() => loadConfig(fsInput({}, { env: { ATTIC_SERVER_CONFIG_BASE64: "%%%" } }))).toThrow(
      "invalid configuration (ATTIC_SERVER_CONFIG_BASE64):\n  - not valid base64",
    );
  });

  it("lets --listen override the file", () => {
    const config = loadConfig(fsInput({ [other]: text(1) }, { configPath: other, listen: "[::1]:9999" }));
    expect(config?.listen).toEqual({ host: "::1", port: 9999 });
    expect(() => loadConfig(fsInput({ [other]: text(1) }, { configPath: other, listen: "nope" }))).toThrow(
      /--listen: invalid socket address "nope"/,
    );
  });
});
