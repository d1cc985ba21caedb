/**
 * Test helpers for the command tests: a node:http server that records requests and answers with a
 * handler, and a CliContext logged in to it (config under a temporary XDG_CONFIG_HOME). Not used at
 * run time.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { CliContext } from "../../apps/garret/src/context.ts";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface TestServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export async function serveJson(
  handler: (req: SeenRequest, res: ServerResponse) => void,
): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const s = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    };
    seen.push(s);
    handler(s, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

export function sendError(res: ServerResponse, status: number, error: string, message = "m"): void {
  sendJson(res, status, { code: status, error, message });
}

export interface TestCli {
  ctx: CliContext;
  out(): string;
  err(): string;
}

/** A context whose config has server `local` (the default) at `endpoint` with token `tok`. */
export async function loggedInCli(endpoint: string, env: NodeJS.ProcessEnv = {}): Promise<TestCli> {
  const dir = await mkdtemp(join(tmpdir(), "garret-cli-"));
  await mkdir(join(dir, "attic"), { recursive: true });
  await writeFile(
    join(dir, "attic", "config.toml"),
    `default-server = "local"\n\n[servers.local]\nendpoint = "${endpoint}"\ntoken = "tok"\n`,
    { mode: 0o600 },
  );
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: { XDG_CONFIG_HOME: dir, ...env },
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: Readable.from([]),
    version: "9.9.9",
    signal: new AbortController().signal,
    retryEnv: { sleep: async () => {}, random: () => 0 },
  };
  return { ctx, out: () => out.join(""), err: () => err.join("") };
}
