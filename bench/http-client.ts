/**
 * The benchmark's HTTP client, built on node:http so that it is cheap per request: one keep-alive
 * Agent with a single socket per worker (cache-shootout's "one keep-alive connection"), bodies
 * counted and discarded, never decompressed. Redirects (garretd may send a single-chunk NAR on S3
 * to a presigned URL) are followed once, on a separate connection, and counted as served bytes.
 */
import { Agent, request } from "node:http";

export function connection(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, scheduling: "fifo" });
}

export interface Fetched {
  status: number;
  bytes: number;
  body?: Buffer;
}

function get(
  agent: Agent,
  url: string,
  keepBody: boolean,
  headers: Record<string, string>,
): Promise<Fetched & { location?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", agent, headers }, (res) => {
      let bytes = 0;
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => {
        bytes += b.length;
        if (keepBody) parts.push(b);
      });
      res.on("end", () => {
        const out: Fetched & { location?: string } = { status: res.statusCode ?? 0, bytes };
        if (keepBody) out.body = Buffer.concat(parts);
        if (res.headers.location !== undefined) out.location = res.headers.location;
        resolve(out);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** GET with the body kept (narinfo). */
export function fetchText(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Fetched> {
  return get(agent, url, true, headers);
}

let redirectAgent: Agent | undefined;

/** GET with the body counted and dropped (NARs); one redirect hop is followed. */
export async function fetchDiscard(agent: Agent, url: string): Promise<Fetched> {
  const first = await get(agent, url, false, {});
  if (first.status >= 300 && first.status < 400 && first.location !== undefined) {
    redirectAgent ??= new Agent({ keepAlive: true });
    const target = new URL(first.location, url).toString();
    const second = await get(redirectAgent, target, false, {});
    return { status: second.status, bytes: second.bytes + first.bytes };
  }
  return first;
}

export interface NarInfoFields {
  url: string;
  compression: string;
  fileSize: number | undefined;
  narSize: number;
}

export function parseNarInfo(text: string): NarInfoFields {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(": ");
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 2));
  }
  const url = fields.get("URL");
  const narSize = Number(fields.get("NarSize"));
  if (url === undefined || !Number.isFinite(narSize))
    throw new Error(`not a narinfo:\n${text.slice(0, 300)}`);
  const fileSize = fields.get("FileSize");
  return {
    url,
    compression: fields.get("Compression") ?? "bzip2",
    fileSize: fileSize === undefined ? undefined : Number(fileSize),
    narSize,
  };
}

/** POST a JSON body, parse a JSON answer. */
export async function postJson(
  agent: Agent,
  url: string,
  token: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": String(payload.length),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (b: Buffer) => parts.push(b));
        res.on("end", () => {
          const text = Buffer.concat(parts).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: text });
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
