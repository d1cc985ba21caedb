import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  loggedInCli,
  sendError,
  serveJson,
  type TestServer,
} from "../../../../test/support/client-server.ts";
import { main } from "../main.ts";
import { resolveDeleteTargets } from "./delete.ts";

const HELLO_HASH = "0c2bl6ypqmqq2a4w6ga6xnd1b8sxy2yd";
const HELLO = `/nix/store/${HELLO_HASH}-hello-2.12.1`;
const LIB_HASH = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";
const LIB = `/nix/store/${LIB_HASH}-lib`;

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe("resolveDeleteTargets", () => {
  it("accepts store paths, paths inside them, symlinks and bare hashes, once each", async () => {
    const dir = await mkdtemp(join(tmpdir(), "garret-delete-"));
    await symlink(HELLO, join(dir, "result"));
    const targets = await resolveDeleteTargets("/nix/store", [
      join(dir, "result"),
      `${HELLO}/bin/hello`,
      LIB_HASH,
    ]);
    expect(targets).toEqual([
      { arg: join(dir, "result"), path: HELLO, hash: HELLO_HASH },
      { arg: LIB_HASH, path: LIB_HASH, hash: LIB_HASH },
    ]);
    await expect(resolveDeleteTargets("/nix/store", ["/etc/hostname"])).rejects.toThrow(
      /not in the Nix store/,
    );
    await expect(resolveDeleteTargets("/nix/store", ["/nix/store/short-x"])).rejects.toThrow(
      /not a valid store path/,
    );
  });
});

describe("garret delete against a local server", () => {
  it("DELETEs each narinfo and skips paths the cache does not have", async () => {
    const s = await serveJson((req, res) => {
      if (req.url.includes(LIB_HASH))
        sendError(res, 404, "NoSuchObject", "The requested object does not exist.");
      else res.writeHead(200).end();
    });
    servers.push(s);
    const cli = await loggedInCli(s.url);
    expect(await main(["delete", "demo", HELLO, LIB], cli.ctx)).toBe(0);
    expect(s.seen.map((r) => `${r.method} ${r.url} ${r.headers.authorization}`)).toEqual([
      `DELETE /demo/${HELLO_HASH}.narinfo bearer tok`,
      `DELETE /demo/${LIB_HASH}.narinfo bearer tok`,
    ]);
    expect(cli.err()).toBe(
      `🗑️  Deleted ${HELLO}\n⚠️  ${LIB} is not in "demo"\nDeleted 1 of 2 path(s) from "demo"\n`,
    );
  });

  it("stops at the first refusal with a hint naming the d permission", async () => {
    const s = await serveJson((_req, res) => sendError(res, 403, "AccessError"));
    servers.push(s);
    const cli = await loggedInCli(s.url);
    expect(await main(["delete", "demo", HELLO, LIB], cli.ctx)).toBe(1);
    expect(s.seen).toHaveLength(1);
    expect(cli.err()).toMatch(
      /^error: AccessError: m\nhint: .* lacks "d" \(delete paths\)\. Mint one with: garretadm make-token .*--delete demo\n$/,
    );
  });

  it("says atticd cannot delete (405 on a routed path)", async () => {
    const s = await serveJson((_req, res) => res.writeHead(405).end());
    servers.push(s);
    const cli = await loggedInCli(s.url);
    expect(await main(["delete", "demo", HELLO], cli.ctx)).toBe(1);
    expect(cli.err()).toMatch(/does not support deleting paths/);
  });
});
