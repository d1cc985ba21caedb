/**
 * What garretd does before serving, through the real process: a busy listen address is one line
 * and nothing runs (no database is even opened); `--version` and mistyped flags answer at once.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, GARRETD_BIN } from "../support/garretd.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [GARRETD_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function embeddedSetup(): Promise<{ dir: string; config: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), "garretd-guards-"));
  dirs.push(dir);
  const config = join(dir, "server.toml");
  await writeFile(
    config,
    [
      "[storage]",
      'type = "local"',
      `path = ${JSON.stringify(join(dir, "storage"))}`,
      "[chunking]",
      "nar-size-threshold = 65536",
      "min-size = 16384",
      "avg-size = 65536",
      "max-size = 262144",
      "[jwt.signing]",
      `token-hs256-secret-base64 = "${Buffer.alloc(32, 7).toString("base64")}"`,
      "",
    ].join("\n"),
  );
  const env = { ...process.env, HOME: dir, GARRET_DATA_DIR: join(dir, "data") };
  return { dir, config, env };
}

describe("garretd start-up", () => {
  it("refuses a busy port in one line, before opening the database, migrating or collecting", async () => {
    const { dir, config, env } = await embeddedSetup();
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", () => resolve()));
    try {
      const r = await run(["-f", config, "--listen", `127.0.0.1:${port}`], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `error: cannot listen on 127.0.0.1:${port}: the address is already in use (another garretd, or another program, holds the port); stop it or pass -l ADDR\n`,
      );
      expect(r.stdout).not.toContain("migrations");
      expect(r.stdout).not.toContain("garbage collection");
      expect(existsSync(join(dir, "data", "db"))).toBe(false);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it("prints its version, and suggests what a mistyped flag meant", async () => {
    const version = await run(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^garretd \d+\.\d+\.\d+\n$/);
    const typo = await run(["--lsiten", "127.0.0.1:1"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(
      "error: unknown option '--lsiten'; did you mean '--listen'?\n\nRun 'garretd --help' for the options.\n",
    );
  });
});
