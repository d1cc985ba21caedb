/**
 * Hostile input in bulk, in process (createTestApp: SQLite in memory, local storage), with seeded
 * fast-check generators so a failure reproduces: malformed NARs, NAR info JSON, narinfo files,
 * tokens, URL paths and headers. Every answer must be a 4xx (never a 5xx or a thrown error), and
 * nothing may be written: row counts and stored files are the same after every batch. Memory is
 * compared before and after (garbage collected) to catch anything kept per request.
 *
 * The count of cases each property ran is collected into HOSTILE_COUNTS for docs/reliability.md.
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createTokenAuthority } from "@garret/token";
import fc from "fast-check";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "../support/app.ts";
import { storageFileNames } from "../support/cache-api.ts";
import { makeNar } from "../support/nar.ts";
import { storePathHash } from "./support.ts";

const SEED = Number(process.env.GARRET_FUZZ_SEED ?? 20_260_921);
const RUNS = Number(process.env.GARRET_FUZZ_RUNS ?? 600);
const ATTIC_CLAIM = "https://jwt.attic.rs/v1";

let t: TestApp;
let secret: Uint8Array;
let baseline: { rows: string; files: string[] };
const counts: Record<string, number> = {};

async function rowCounts(): Promise<string> {
  const [row] = await t.db.withSession((s) =>
    s.query<Record<string, unknown>>(
      `SELECT (SELECT count(*) FROM object) AS objects, (SELECT count(*) FROM nar) AS nars,
              (SELECT count(*) FROM chunk) AS chunks, (SELECT count(*) FROM chunkref) AS chunkrefs,
              (SELECT count(*) FROM cache) AS caches`,
    ),
  );
  return JSON.stringify(row);
}

async function expectNothingWritten(): Promise<void> {
  expect(await rowCounts()).toBe(baseline.rows);
  expect(await storageFileNames(t.storageDir)).toEqual(baseline.files);
}

/**
 * Runs a property with the suite's seed; every produced response must be a 4xx (or pass `allow`,
 * for the few requests a client's URL normalisation turns into a legitimate one).
 */
async function check4xx<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  send: (v: T) => Promise<Response>,
  runs = RUNS,
  allow: (v: T, status: number) => boolean = () => false,
) {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (v) => {
      n++;
      const res = await send(v);
      const body = await res.text();
      if ((res.status < 400 || res.status >= 500) && !allow(v, res.status)) {
        throw new Error(
          `${name}: status ${res.status} for ${JSON.stringify(v)?.slice(0, 300)}: ${body.slice(0, 300)}`,
        );
      }
    }),
    { seed: SEED, numRuns: runs, endOnFailure: true },
  );
  counts[name] = (counts[name] ?? 0) + n;
}

function narHashOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function uploadRequest(nar: Uint8Array, info: Record<string, unknown>, token = t.rootToken) {
  return t.request("/_api/v1/upload-path", {
    method: "PUT",
    token,
    headers: { "content-type": "application/octet-stream", "x-attic-nar-info": JSON.stringify(info) },
    body: Buffer.from(nar),
  });
}

function infoFor(nar: Uint8Array, label: string): Record<string, unknown> {
  const hash = storePathHash(label);
  return {
    cache: "fuzz",
    store_path_hash: hash,
    store_path: `/nix/store/${hash}-fuzz`,
    references: [],
    system: null,
    deriver: null,
    sigs: [],
    ca: null,
    nar_hash: narHashOf(nar),
    nar_size: nar.length,
  };
}

/** NAR framing pieces (u64 little-endian length, bytes, zero padding to 8). */
function str(s: string | Uint8Array, opts: { len?: bigint; pad?: number } = {}): Buffer {
  const bytes = Buffer.from(s);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.len ?? BigInt(bytes.length));
  const pad = opts.pad ?? (8 - (bytes.length % 8)) % 8;
  return Buffer.concat([len, bytes, Buffer.alloc(pad, opts.pad !== undefined ? 1 : 0)]);
}

/** A NAR of directories nested `depth` deep, built without recursion. */
function nestedNar(depth: number): Buffer {
  const open = Buffer.concat([
    str("entry"),
    str("("),
    str("name"),
    str("d"),
    str("node"),
    str("("),
    str("type"),
    str("directory"),
  ]);
  const close = Buffer.concat([str(")"), str(")")]);
  return Buffer.concat([
    str("nix-archive-1"),
    str("("),
    str("type"),
    str("directory"),
    ...Array.from({ length: depth }, () => open),
    ...Array.from({ length: depth }, () => close),
    str(")"),
  ]);
}

const validNar = makeNar({
  type: "directory",
  entries: { a: { type: "regular", contents: "hello" }, b: { type: "symlink", target: "a" } },
});

/** Malformed NARs: every one of these must be refused. */
const badNar: fc.Arbitrary<Uint8Array> = fc.oneof(
  // Random bytes (mostly bad magic).
  fc.uint8Array({ minLength: 0, maxLength: 2048 }),
  // A valid NAR cut short or with bytes flipped in its framing.
  fc
    .integer({ min: 0, max: validNar.length - 1 })
    .map((n) => validNar.subarray(0, n)),
  fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const copy = Buffer.from(validNar);
    copy[i] = (copy[i] as number) ^ x;
    return copy;
  }),
  // Trailing garbage after a complete NAR.
  fc
    .uint8Array({ minLength: 1, maxLength: 64 })
    .map((tail) => Buffer.concat([validNar, tail])),
  // Absurd lengths in the first string.
  fc
    .bigInt({ min: 1n << 20n, max: (1n << 64n) - 1n })
    .map((len) => Buffer.concat([str("nix-archive-1", { len }), Buffer.alloc(32)])),
  // Non-zero padding.
  fc.constant(Buffer.concat([str("nix-archive-1", { pad: 3 }), str("("), str("type"), str("regular")])),
  // Bad names: traversal, slashes, empty, NUL, unsorted duplicates.
  fc
    .constantFrom("..", ".", "", "a/b", "/etc", "a\0b")
    .map((name) =>
      Buffer.concat([
        str("nix-archive-1"),
        str("("),
        str("type"),
        str("directory"),
        str("entry"),
        str("("),
        str("name"),
        str(name),
        str("node"),
        str("("),
        str("type"),
        str("regular"),
        str("contents"),
        str("x"),
        str(")"),
        str(")"),
        str(")"),
      ]),
    ),
  fc.constant(
    Buffer.concat([
      str("nix-archive-1"),
      str("("),
      str("type"),
      str("directory"),
      ...["b", "a"].flatMap((name) => [
        str("entry"),
        str("("),
        str("name"),
        str(name),
        str("node"),
        str("("),
        str("type"),
        str("regular"),
        str("contents"),
        str(""),
        str(")"),
        str(")"),
      ]),
      str(")"),
    ]),
  ),
  // Unknown node types and fields.
  fc
    .string({ maxLength: 12 })
    .filter((s) => !["regular", "directory", "symlink"].includes(s))
    .map((type) => Buffer.concat([str("nix-archive-1"), str("("), str("type"), str(type), str(")")])),
);

beforeAll(async () => {
  secret = randomBytes(32);
  const tokens = await createTokenAuthority({ hs256Secret: secret });
  t = await createTestApp({
    tokens,
    settings: {
      allowedHosts: ["cache.test"],
      chunking: SMALL_CHUNKING,
    },
  });
  await t.createCache("fuzz", { isPublic: false });
  baseline = { rows: await rowCounts(), files: await storageFileNames(t.storageDir) };
});
afterAll(async () => {
  await t?.close();
  process.stdout.write(`HOSTILE_COUNTS ${JSON.stringify(counts)}\n`);
});

describe("hostile input (in process, seeded)", () => {
  it("refuses malformed NARs whose hash and size match the claim, and stores nothing", async () => {
    let i = 0;
    await check4xx("malformed NAR uploads", badNar, (nar) => uploadRequest(nar, infoFor(nar, `bad-${i++}`)));
    await check4xx(
      "NAR nested 100,000 deep",
      fc.constant(nestedNar(100_000)),
      (nar) => uploadRequest(nar, infoFor(nar, "deep")),
      1,
    );
    await expectNothingWritten();
  });

  it("refuses NAR info JSON with wrong types, bad hashes and huge fields", async () => {
    const valid = infoFor(validNar, "good");
    // Values of the wrong type for every field, and wrong values for the checked ones (free-text
    // fields such as `system` legitimately take any string).
    const wrongType = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
      fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
    );
    const badStrings = fc.constantFrom(
      "x".repeat(200_000),
      "sha256:zz",
      "md5:00",
      "",
      "../../etc/passwd",
      `/nix/store/${"e".repeat(32)}-other`,
      "UPPER-CASE",
    );
    const wildFor = (k: string): fc.Arbitrary<unknown> => {
      // A line break would add lines to the narinfo every client reads.
      const injected = fc.string({ maxLength: 20 }).map((v) => `${v}\nURL: nar/evil.nar`);
      if (k === "system" || k === "ca") return fc.oneof(wrongType, injected);
      // An empty deriver means none, as in atticd.
      if (k === "deriver")
        return fc.oneof(
          wrongType,
          badStrings.filter((v) => v !== ""),
        );
      if (k === "sigs")
        return fc.oneof(
          wrongType,
          fc.constant(null),
          fc.constant("k:sig"),
          injected.map((v) => [v]),
        );
      if (k === "references") {
        return fc.oneof(
          wrongType,
          fc.constant(null),
          badStrings.map((v) => [v]),
          fc.constant("not-a-list"),
        );
      }
      if (k === "nar_size")
        return fc.oneof(wrongType, fc.constant(null), fc.constantFrom(-1, 2 ** 60, 1.5, "148"));
      return fc.oneof(wrongType, fc.constant(null), badStrings);
    };
    await check4xx(
      "NAR info JSON (one field replaced)",
      fc
        .constantFrom(...Object.keys(valid))
        .chain((k) => fc.tuple(fc.constant(k), wildFor(k)))
        .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(valid[k])),
      ([k, v]) => uploadRequest(validNar, { ...valid, [k]: v }),
    );
    await check4xx("NAR info JSON (any value)", fc.anything(), (v) =>
      t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers: { "x-attic-nar-info": JSON.stringify(v) ?? "null" },
        body: validNar,
      }),
    );
    await check4xx("NAR info header (raw text)", fc.string({ maxLength: 200 }), (v) =>
      t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers: { "x-attic-nar-info": v.replace(/[\r\n\0]/g, " ") },
        body: validNar,
      }),
    );
    await expectNothingWritten();
  });

  it("refuses absurd preamble sizes", async () => {
    await check4xx(
      "preamble sizes",
      fc.oneof(
        fc.constantFrom("-1", "0x10", "1e9", "", " ", "NaN", "99999999999999999999999", "4294967296", "1.5"),
        fc.integer({ min: 1 << 21, max: 2 ** 52 }).map(String),
        fc.integer({ min: 1, max: 64 }).map(String),
      ),
      (size) =>
        t.request("/_api/v1/upload-path", {
          method: "PUT",
          token: t.rootToken,
          headers: { "x-attic-nar-info-preamble-size": size },
          body: Buffer.concat([Buffer.from("{}"), validNar]),
        }),
    );
    await expectNothingWritten();
  });

  it("refuses malformed narinfo files on the nix copy path", async () => {
    const hash = storePathHash("narinfo-put");
    const line = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.constantFrom(
        `StorePath: /nix/store/${hash}-x`,
        "URL: nar/../../etc/passwd.nar",
        "Compression: zstd",
        "NarHash: sha256:0000",
        "NarSize: -5",
        "NarSize: 1e99",
        `References: ${"a".repeat(100_000)}`,
        "FileHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
        "Sig: k:!!!",
      ),
    );
    await check4xx(
      "narinfo PUT bodies",
      fc.array(line, { maxLength: 12 }).map((lines) => lines.join("\n")),
      (body) => t.request(`/fuzz/${hash}.narinfo`, { method: "PUT", token: t.rootToken, body }),
    );
    await check4xx(
      "narinfo PUT over 1 MiB",
      fc.constant("a".repeat(1_100_000)),
      (body) => t.request(`/fuzz/${hash}.narinfo`, { method: "PUT", token: t.rootToken, body }),
      1,
    );
    await expectNothingWritten();
  });

  it("refuses forged, malformed and oversized tokens", async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const claims = (caches: unknown) => ({
      sub: "mallory",
      exp: Math.floor(Date.now() / 1000) + 3600,
      [ATTIC_CLAIM]: { caches },
    });
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const signHs = (payload: Record<string, unknown>, key: Uint8Array) =>
      new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(key);
    const forged = fc.oneof(
      // alg none with an all-powerful claim.
      fc.constant(
        `${b64({ alg: "none", typ: "JWT" })}.${b64(claims({ "*": { r: 1, w: 1, cc: 1, cd: 1 } }))}.`,
      ),
      // Signed with the wrong secret.
      fc
        .uint8Array({ minLength: 32, maxLength: 32 })
        .chain((k) => fc.constant(k))
        .map((k) => ({ k })),
      // RS256 signed by a stranger's key (HS/RS confusion from the other side).
      fc.constant("rs256"),
      // Random strings, three random segments, and absurd sizes.
      fc.string({ maxLength: 300 }),
      fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join(".")),
      fc.constant("a".repeat(12_000)),
      // Correctly signed, but with permission flags of the wrong type.
      fc
        .constantFrom<unknown>(1.5, "1", true, -1, 2 ** 40, null, [1], { r: 1 })
        .map((flag) => ({ flag })),
    );
    let n = 0;
    await check4xx("tokens", forged, async (v) => {
      let token: string;
      if (typeof v === "object" && v !== null && "k" in v) {
        token = await signHs(claims({ "*": { r: 1, w: 1 } }), (v as { k: Uint8Array }).k);
      } else if (v === "rs256") {
        token = await new SignJWT(claims({ "*": { r: 1, w: 1 } }))
          .setProtectedHeader({ alg: "RS256" })
          .sign(rsa.privateKey);
      } else if (typeof v === "object" && v !== null && "flag" in v) {
        token = await signHs(
          claims({ fuzz: { r: (v as { flag: unknown }).flag, w: (v as { flag: unknown }).flag } }),
          secret,
        );
      } else {
        token = String(v);
      }
      n++;
      const narinfo = await t.request(`/fuzz/${storePathHash("x")}.narinfo`, {
        headers: { authorization: `Bearer ${token.replace(/[\r\n\0]/g, "")}` },
      });
      if (narinfo.status !== 401 && narinfo.status !== 403 && narinfo.status !== 400) return narinfo;
      await narinfo.arrayBuffer();
      return uploadRequest(validNar, infoFor(validNar, `tok-${n}`), token.replace(/[\r\n\0]/g, ""));
    });
    await expectNothingWritten();
  });

  it("answers odd URL paths with 4xx", async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 30 }).map(encodeURIComponent),
      fc.constantFrom("..", "%2e%2e", "%2F", "..%2F..%2Fetc%2Fpasswd", "%00", "nar", "fuzz", "_api", "v1"),
      fc.constant("a".repeat(5000)),
      fc.constant(`${storePathHash("p")}.narinfo`),
      fc.constant(`${"z".repeat(33)}.narinfo`),
    );
    await check4xx(
      "URL paths (GET)",
      fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join("/")}`),
      (path) => t.request(path, { token: null }),
      RUNS,
      // "/x/%2e%2e" is "/" once the URL is parsed: the index page.
      (path, status) => status === 200 && new URL(path, "http://cache.test").pathname === "/",
    );
    await check4xx(
      "URL paths (PUT/POST/DELETE with a token)",
      fc.tuple(
        fc.constantFrom("PUT", "POST", "DELETE", "PATCH"),
        fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join("/")}`),
      ),
      ([method, path]) =>
        t.request(path, {
          method,
          token: t.rootToken,
          body: method === "DELETE" ? undefined : "{}",
        }),
    );
    await expectNothingWritten();
  });

  it("refuses hosts outside allowed-hosts", async () => {
    await check4xx(
      "Host headers",
      fc.oneof(
        fc.domain(),
        fc.string({ maxLength: 40 }),
        fc.constantFrom("cache.test.evil", "evil", "127.0.0.1"),
      ),
      (host) => t.request("/nix-cache-info", { headers: { host: host.replace(/[\r\n\0]/g, "") || "x" } }),
    );
  });

  it("keeps memory flat over the whole suite", async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const before = process.memoryUsage().heapUsed;
    let i = 0;
    await check4xx("memory probe (malformed NARs)", badNar, (nar) =>
      uploadRequest(nar, infoFor(nar, `mem-${i++}`)),
    );
    gc?.();
    const after = process.memoryUsage().heapUsed;
    // Without --expose-gc this is an upper bound: garbage not yet collected counts too.
    expect(after - before).toBeLessThan(64 * 1024 * 1024);
    await expectNothingWritten();
  });
});
