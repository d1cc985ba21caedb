import { createHmac, createVerify, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AdmError } from "./command.ts";
import { type AdmIo, runGarretadm } from "./main.ts";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PKCS1_PRIVATE = rsa.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const SPKI_PUBLIC = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const HS256_SECRET = Buffer.from("wyjO1mgaJ1CJqU+JHTJthKBRBBudwyDkBu/+y97hbsA=", "base64");

const NOW_MS = 1_672_439_425_000;
const NOW = NOW_MS / 1000;
const CLAIM = "https://jwt.attic.rs/v1";

const STORAGE = `[storage]\ntype = "local"\npath = "/s"\n`;
const RS256_TOML = `${STORAGE}
[jwt]
token-bound-issuer = "https://garret.example"
token-bound-audiences = ["cache", "ci"]
[jwt.signing]
token-rs256-secret-base64 = "${b64(PKCS1_PRIVATE)}"
`;
const HS256_TOML = `${STORAGE}[jwt.signing]\ntoken-hs256-secret-base64 = "${HS256_SECRET.toString("base64")}"\n`;
const PUBKEY_TOML = `${STORAGE}[jwt.signing]\ntoken-rs256-pubkey-base64 = "${b64(SPKI_PUBLIC)}"\n`;

async function run(
  argv: string[],
  opts: { files?: Record<string, string>; env?: Record<string, string> } = {},
) {
  const files = opts.files ?? { "/etc/garret.toml": RS256_TOML };
  let stdout = "";
  let stderr = "";
  const io: AdmIo = {
    env: opts.env ?? { HOME: "/home/u" },
    readFile: (p) => files[p] ?? "",
    fileExists: (p) => p in files,
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  };
  // No database in these tests: make-token then mints unrecorded, with a warning.
  const openDatabase = () => Promise.reject(new AdmError("no database in this test"));
  const code = await runGarretadm(argv, io, { now: () => NOW_MS, openDatabase });
  return { code, stdout, stderr };
}

function decodeSegment(segment: string): string {
  return Buffer.from(segment, "base64url").toString("utf8");
}

describe("garretadm make-token --dump-claims", () => {
  it("prints atticd's claims for the documented example", async () => {
    const r = await run([
      "-f",
      "/etc/garret.toml",
      "make-token",
      "--sub",
      "alice",
      "--validity",
      "3months",
      "--pull",
      "alice-*",
      "--push",
      "alice-*",
      "--create-cache",
      "alice-*",
      "--dump-claims",
    ]);
    expect(r).toEqual({
      code: 0,
      stdout: `{"exp":${NOW + 7_890_048},"nbf":${NOW},"sub":"alice","${CLAIM}":{"caches":{"alice-*":{"r":1,"w":1,"cc":1}}}}\n`,
      stderr: "",
    });
  });

  it("groups patterns by flag and shares an entry for a pattern given to several flags", async () => {
    const r = await run([
      "--config",
      "/etc/garret.toml",
      "make-token",
      "--sub",
      "ci",
      "--validity",
      "1y",
      "--destroy-cache",
      "a",
      "--push",
      "b",
      "--pull",
      "a",
      "--configure-cache-retention",
      "c-*",
      "--delete",
      "b",
      "--configure-cache",
      "c-*",
      "--pull",
      "b",
      "--create-cache",
      "*",
      "--dump-claims",
    ]);
    expect(r.code).toBe(0);
    // Order: --pull (a, b), --push, --delete, --create-cache (*), --configure-cache (c-*), ...
    expect(r.stdout).toBe(
      `{"exp":${NOW + 31_557_600},"nbf":${NOW},"sub":"ci","${CLAIM}":{"caches":` +
        `{"a":{"r":1,"cd":1},"b":{"r":1,"w":1,"d":1},"*":{"cc":1},"c-*":{"cr":1,"cq":1}}}}\n`,
    );
  });

  it("works with a pubkey-only configuration, since nothing is signed", async () => {
    const r = await run(["-f", "/p.toml", "make-token", "--sub", "x", "--validity", "1d", "--dump-claims"], {
      files: { "/p.toml": PUBKEY_TOML },
    });
    expect(r.stdout).toBe(`{"exp":${NOW + 86_400},"nbf":${NOW},"sub":"x","${CLAIM}":{"caches":{}}}\n`);
  });
});

describe("garretadm make-token (signed)", () => {
  it("mints an RS256 JWT with the bound issuer and audiences, in atticd's claim order", async () => {
    const r = await run([
      "-f",
      "/etc/garret.toml",
      "make-token",
      "--sub",
      "alice",
      "--validity",
      "2 years",
      "--pull",
      "dev-*",
      "--push",
      "dev-*",
      "--pull",
      "prod",
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "warning: the token is not recorded (no database in this test); it can only be revoked by subject\n",
    );
    expect(r.stdout.endsWith("\n")).toBe(true);
    const jwt = r.stdout.slice(0, -1);
    const [header, payload, signature] = jwt.split(".") as [string, string, string];
    expect(decodeSegment(header)).toBe('{"alg":"RS256","typ":"JWT"}');
    expect(decodeSegment(payload)).toBe(
      `{"exp":${NOW + 63_115_200},"nbf":${NOW},"iss":"https://garret.example","sub":"alice","aud":["cache","ci"],` +
        `"${CLAIM}":{"caches":{"dev-*":{"r":1,"w":1},"prod":{"r":1}}}}`,
    );
    const verifier = createVerify("RSA-SHA256").update(`${header}.${payload}`);
    expect(verifier.verify(rsa.publicKey, Buffer.from(signature, "base64url"))).toBe(true);
  });

  it("mints an HS256 JWT from ATTIC_SERVER_CONFIG_BASE64", async () => {
    const r = await run(["make-token", "--sub", "bob", "--validity", "12h", "--push", "team+cache"], {
      files: {},
      env: { HOME: "/home/u", ATTIC_SERVER_CONFIG_BASE64: b64(HS256_TOML) },
    });
    expect(r.code).toBe(0);
    const [header, payload, signature] = r.stdout.trim().split(".") as [string, string, string];
    expect(decodeSegment(header)).toBe('{"alg":"HS256","typ":"JWT"}');
    expect(JSON.parse(decodeSegment(payload))).toEqual({
      exp: NOW + 43_200,
      nbf: NOW,
      sub: "bob",
      [CLAIM]: { caches: { "team+cache": { w: 1 } } },
    });
    const expected = createHmac("sha256", HS256_SECRET).update(`${header}.${payload}`).digest("base64url");
    expect(signature).toBe(expected);
  });

  it("refuses to sign with a pubkey-only configuration, as atticd does", async () => {
    const r = await run(["-f", "/p.toml", "make-token", "--sub", "x", "--validity", "1d"], {
      files: { "/p.toml": PUBKEY_TOML },
    });
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: "error: Pubkey-only JWT authentication cannot create signed JWTs\n",
    });
  });
});

describe("garretadm argument and configuration errors", () => {
  const base = ["-f", "/etc/garret.toml", "make-token"];

  it("rejects an invalid pattern, naming the flag", async () => {
    const r = await run([
      ...base,
      "--sub",
      "a",
      "--validity",
      "1y",
      "--pull",
      "ok",
      "--push",
      "*-but-normal-restrictions-still-apply!!!",
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^error: invalid value "\*-but-normal-restrictions-still-apply!!!" for --push: not a valid cache name pattern/,
    );
    for (const bad of ["-leading-dash", "has space", "a".repeat(51), ""]) {
      expect((await run([...base, "--sub", "a", "--validity", "1y", "--pull", bad])).code).toBe(2);
    }
  });

  it("requires --sub and --validity, and a validity with a unit", async () => {
    expect((await run([...base, "--validity", "1y"])).stderr).toContain("--sub <SUB>");
    expect((await run([...base, "--sub", "a"])).stderr).toContain("--validity <VALIDITY>");
    const bare = await run([...base, "--sub", "a", "--validity", "10"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('invalid value "10" for --validity');
  });

  it("rejects unknown flags and commands", async () => {
    expect((await run([...base, "--sub", "a", "--validity", "1y", "--read", "x"])).code).toBe(2);
    const typo = await run([...base, "--sub", "a", "--validity", "1y", "--pul", "x"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^error: unknown option '--pul'; did you mean '--pull'\?\n/);
    const unknown = await run(["make-tokens"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^error: unknown command 'make-tokens'; did you mean 'make-token'\?; commands: .*make-token/,
    );
    expect((await run([])).stderr).toContain("no command given");
    expect((await run(["--verbose", "make-token"])).stderr).toContain("unknown option '--verbose'");
    expect((await run(["--confg", "x", "make-token"])).stderr).toContain("did you mean '--config'?");
  });

  it("prints its version", async () => {
    const r = await run(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^garretadm \d+\.\d+\.\d+\n$/);
  });

  it("prints help for the tool and for every command", async () => {
    for (const name of ["check", "make-token", "tokens", "caches", "gc"]) {
      const r = await run([name, "--help"]);
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^Usage: garretadm ${name}`));
    }
    const top = await run(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: garretadm \[OPTIONS\] <COMMAND>/);
    expect(top.stdout).toContain("make-token  Generate a new token");
    const sub = await run(["make-token", "-h"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^Usage: garretadm make-token --sub <SUB> --validity <VALIDITY>/);
  });

  it("never runs the first start: no configuration is an error", async () => {
    const r = await run(["make-token", "--sub", "a", "--validity", "1y"], { files: {} });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: no configuration found: pass -f PATH/);
  });

  it("finds atticd's own config file the way garretd does", async () => {
    const r = await run(["make-token", "--sub", "a", "--validity", "1y"], {
      files: { "/home/u/.config/attic/server.toml": HS256_TOML },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split(".")).toHaveLength(3);
  });

  it("reports configuration problems", async () => {
    const r = await run(["-f", "/bad.toml", "make-token", "--sub", "a", "--validity", "1y"], {
      files: { "/bad.toml": `${HS256_TOML}\n[chunking]\nmin-size = 1\n` },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "error: invalid configuration (/bad.toml):\n  - chunking.nar-size-threshold: required",
    );
  });
});
