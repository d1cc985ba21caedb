/**
 * Issue 19 with the real `garret` binary and real Nix 2.8 (Nix tier), against garretd on Postgres +
 * S3 when the Postgres tier is on (else SQLite + local), through a proxy in the test that refuses
 * request bodies over 8 MiB and counts what crosses it:
 * - `garret push` of a 256 MiB path goes through the proxy with the chunk-upload extension, and
 *   Nix substitutes it into a fresh store with signatures required;
 * - a rebuilt variant of that path (content differing around one insertion) sends a small fraction;
 * - `garret push` killed (SIGKILL) at 50% of another path, then run again, sends at most the chunks
 *   not acknowledged before the kill plus one request's worth.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type BodyLimitProxy, startBodyLimitProxy } from "../support/body-limit-proxy.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import {
  buildClosure,
  describeWithNix,
  nixEnv,
  nixTempDir,
  pullIntoFreshStore,
  queryPathInfo,
  type TestClosure,
} from "../support/nix.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const db = postgresTestUrl() ? "postgres" : "sqlite";
const GARRET_BIN = new URL("../../apps/garret/bin/garret.js", import.meta.url).pathname;
const LIMIT = 8 * 1024 * 1024;
const BIG_MB = 256;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describeWithNix(`garret push through an 8 MiB body limit (${db})`, () => {
  let g: GarretdHandle;
  let proxy: BodyLimitProxy;
  let home: string;
  let publicKey: string;
  let closure: TestClosure;
  let variant: TestClosure;
  let other: TestClosure;
  const seed = "chunk-push-1";

  function garret(args: string[], onSpawn?: (child: ChildProcess) => void): Promise<Run> {
    return nixEnv({ env: { XDG_CONFIG_HOME: home } }).then(
      (env) =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [GARRET_BIN, ...args], {
            env,
            stdio: ["ignore", "pipe", "pipe"],
          });
          let stdout = "";
          let stderr = "";
          child.stdout.on("data", (d: Buffer) => {
            stdout += d.toString();
          });
          child.stderr.on("data", (d: Buffer) => {
            stderr += d.toString();
          });
          child.on("error", reject);
          child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
          onSpawn?.(child);
        }),
    );
  }

  const chunkPutBytes = () =>
    proxy.requests
      .filter((r) => r.method === "PUT" && r.path.includes("/chunks") && r.status === 200)
      .reduce((s, r) => s + r.requestBytes, 0);

  beforeAll(async () => {
    home = await nixTempDir("chunk-push-home");
    [g, closure, variant, other] = await Promise.all([
      startGarretd({
        db,
        storage: db === "postgres" ? "s3" : "local",
        extraToml: `\n[garret]\nchunk-upload-max-request-bytes = ${LIMIT}\n`,
      }),
      buildClosure({ seed, bigMB: BIG_MB }),
      buildClosure({ seed, bigMB: BIG_MB, variant: "rebuilt" }),
      buildClosure({ seed: `${seed}-other`, bigMB: BIG_MB }),
    ]);
    proxy = await startBodyLimitProxy(g.url, LIMIT);
    publicKey = await createCacheOver(g.url, g.rootToken, "chunked");
    const login = await garret([
      "login",
      "--set-default",
      "root",
      proxy.url.replace("127.0.0.1", "localhost"),
      g.rootToken,
    ]);
    expect(login.code, login.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    await proxy?.close();
    await g?.stop();
  });

  it("pushes a 256 MiB path in requests under the limit; Nix substitutes it with signatures required", async () => {
    const [info] = await queryPathInfo([closure.big]);
    expect(info?.narSize ?? 0).toBeGreaterThan(32 * LIMIT);
    // The attic API sends the NAR in one body, which the proxy refuses.
    proxy.reset();
    const attic = await garret(["push", "--attic-api", "chunked", closure.big]);
    expect(attic.code).not.toBe(0);
    expect(proxy.requests.some((q) => q.status === 413)).toBe(true);

    proxy.reset();
    const r = await garret(["push", "chunked", closure.big]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`✅ ${closure.big} \\(.*sent .*, skipped .*\\)`));
    expect(proxy.requests.every((q) => q.status === 200 && q.requestBytes <= LIMIT)).toBe(true);
    // big repeats much of its content, so fewer bytes than its NAR size go out, in many requests.
    expect(chunkPutBytes()).toBeGreaterThan(8 * LIMIT);

    const pull = await pullIntoFreshStore({
      cacheUrl: `${g.url.replace("127.0.0.1", "localhost")}/chunked`,
      publicKey,
      token: g.rootToken,
      paths: [closure.big],
      mode: "realise",
    });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.verified).toContain(closure.big);
  }, 600_000);

  it("a rebuilt variant of the path sends a small fraction of its NAR", async () => {
    const [info] = await queryPathInfo([variant.big]);
    proxy.reset();
    const started = performance.now();
    const r = await garret(["push", "chunked", variant.big]);
    const ms = performance.now() - started;
    expect(r.code, r.stderr).toBe(0);
    const onWire = proxy.requests.reduce((s, q) => s + q.requestBytes + q.responseBytes, 0);
    console.log(
      `[chunk-push nix] rebuilt ${BIG_MB} MB path: ${onWire} bytes on the wire, ${Math.round(ms)} ms`,
    );
    expect(onWire).toBeLessThanOrEqual((info?.narSize ?? 0) * 0.1);
    const pull = await pullIntoFreshStore({
      cacheUrl: `${g.url.replace("127.0.0.1", "localhost")}/chunked`,
      publicKey,
      token: g.rootToken,
      paths: [variant.big],
      mode: "realise",
    });
    expect(pull.code, pull.stderr).toBe(0);
  }, 600_000);

  it("killed at 50% and run again, it sends at most the unacknowledged chunks plus one request", async () => {
    const [info] = await queryPathInfo([other.big]);
    const narSize = info?.narSize ?? 0;
    proxy.reset();
    const killed = await garret(["push", "chunked", other.big], (child) => {
      const timer = setInterval(() => {
        if (proxy.liveRequestBytes >= narSize / 2) {
          clearInterval(timer);
          child.kill("SIGKILL");
        }
      }, 20);
      child.on("close", () => clearInterval(timer));
    });
    expect(killed.signal).toBe("SIGKILL");
    const acknowledged = chunkPutBytes();
    expect(acknowledged).toBeGreaterThan(narSize / 2 - 3 * LIMIT);

    proxy.reset();
    const again = await garret(["push", "chunked", other.big]);
    expect(again.code, again.stderr).toBe(0);
    const sentAgain = proxy.requests
      .filter((r) => r.method === "PUT" && r.path.includes("/chunks"))
      .reduce((s, r) => s + r.requestBytes, 0);
    console.log(
      `[chunk-push nix] killed push: ${acknowledged} bytes acknowledged, rerun sent ${sentAgain} (NAR ${narSize})`,
    );
    expect(sentAgain).toBeLessThanOrEqual(narSize - acknowledged + LIMIT);
    const pull = await pullIntoFreshStore({
      cacheUrl: `${g.url.replace("127.0.0.1", "localhost")}/chunked`,
      publicKey,
      token: g.rootToken,
      paths: [other.big],
      mode: "realise",
    });
    expect(pull.code, pull.stderr).toBe(0);
  }, 600_000);
});
