/**
 * `garret pin add|list|remove` (garret extension; garretd's `/_api/v1/caches/{cache}/pins`).
 * A pin is a named GC root: while it has not expired, its store paths and their closure in the cache
 * are kept whatever the retention period. Paths are resolved like `push` resolves them, so
 * `garret pin add c release ./result` pins what `./result` points at. atticd has no pins.
 *
 *   $ garret pin list demo
 *   release  expires 2027-01-01T00:00:00.000Z  by ci
 *     /nix/store/0c2bl6ypqmqq2a4w6ga6xnd1b8sxy2yd-hello-2.12.1
 */
import { PIN_NAME_PATTERN, type Pin, type PinRequest, parseDurationSeconds } from "@garret/protocol";
import { type CliContext, connect, UsageError } from "../context.ts";
import { NixCli } from "../nix-cli.ts";

export interface PinFlags {
  expires?: string;
  expiresAt?: string;
}

function checkName(name: string): string {
  if (!PIN_NAME_PATTERN.test(name)) {
    throw new UsageError(
      `invalid pin name "${name}": use 1-100 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return name;
}

/** The `expires_at` to send: absent flags mean the pin never expires. */
export function expiresAt(flags: PinFlags, now: number): string | null {
  if (flags.expires !== undefined && flags.expiresAt !== undefined) {
    throw new UsageError("--expires and --expires-at cannot be used together");
  }
  if (flags.expires !== undefined) {
    let seconds: number;
    try {
      seconds = parseDurationSeconds(flags.expires);
    } catch (e) {
      throw new UsageError(`--expires: ${(e as Error).message}`);
    }
    const at = new Date(now + seconds * 1000);
    if (Number.isNaN(at.getTime()) || at.getUTCFullYear() > 9999)
      throw new UsageError("--expires is too long");
    return at.toISOString();
  }
  if (flags.expiresAt !== undefined) {
    // Date.parse accepts far more than ISO 8601 (e.g. "1"), so the shape is checked first.
    if (
      !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(flags.expiresAt)
    ) {
      throw new UsageError(`--expires-at: "${flags.expiresAt}" is not an ISO 8601 date or time`);
    }
    const at = new Date(flags.expiresAt);
    if (Number.isNaN(at.getTime()) || at.getUTCFullYear() > 9999)
      throw new UsageError(`--expires-at: "${flags.expiresAt}" is not a valid time`);
    if (at.getTime() <= now) throw new UsageError(`--expires-at: ${at.toISOString()} is in the past`);
    return at.toISOString();
  }
  return null;
}

export function formatPins(pins: Pin[], now: number): string {
  if (pins.length === 0) return "";
  const width = Math.max(...pins.map((p) => p.name.length));
  return pins
    .map((p) => {
      const expired = p.expires_at !== null && Date.parse(p.expires_at) <= now;
      const expiry =
        p.expires_at === null ? "never expires" : `${expired ? "expired" : "expires"} ${p.expires_at}`;
      const by = p.created_by === null ? "" : `  by ${p.created_by}`;
      return `${p.name.padEnd(width)}  ${expiry}${by}\n${p.store_paths.map((s) => `  ${s}\n`).join("")}`;
    })
    .join("");
}

export async function pinAdd(
  ctx: CliContext,
  storeDir: string,
  cacheRef: string,
  name: string,
  paths: string[],
  flags: PinFlags,
): Promise<number> {
  checkName(name);
  if (paths.length === 0) throw new UsageError("no paths given");
  const expires = expiresAt(flags, Date.now());
  const nix = new NixCli(storeDir);
  const request: PinRequest = {
    store_paths: [...new Set(await Promise.all(paths.map((p) => nix.resolvePath(p))))],
    expires_at: expires,
  };
  const conn = await connect(ctx, cacheRef);
  const pin = await conn.call("pin", (c) => c.putPin(conn.cache, name, request));
  const expiry = pin.expires_at === null ? "never expires" : `expires ${pin.expires_at}`;
  ctx.stderr.write(
    `📌 Pinned ${pin.store_paths.length} path(s) as "${pin.name}" in "${conn.cache}" (${expiry})\n`,
  );
  return 0;
}

export async function pinList(ctx: CliContext, cacheRef: string, json: boolean): Promise<number> {
  const conn = await connect(ctx, cacheRef);
  const pins = await conn.call("pin", (c) => c.listPins(conn.cache));
  if (json) ctx.stdout.write(`${JSON.stringify({ pins }, null, 2)}\n`);
  else if (pins.length === 0) ctx.stderr.write(`No pins in "${conn.cache}"\n`);
  else ctx.stdout.write(formatPins(pins, Date.now()));
  return 0;
}

export async function pinRemove(ctx: CliContext, cacheRef: string, name: string): Promise<number> {
  checkName(name);
  const conn = await connect(ctx, cacheRef);
  await conn.call("unpin", (c) => c.deletePin(conn.cache, name));
  ctx.stderr.write(`Removed pin "${name}" from "${conn.cache}"\n`);
  return 0;
}
