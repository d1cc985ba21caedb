/**
 * `garret use CACHE`: makes Nix substitute from the cache (attic `client/src/command/use.rs`).
 * Prepends the substituter and public key in `$XDG_CONFIG_HOME/nix/nix.conf`, and when a token is
 * configured stores it in `$XDG_CONFIG_HOME/nix/netrc` (mode 0600) and points `netrc-file` there.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { configDir, resolveToken } from "../config.ts";
import { type CliContext, connect } from "../context.ts";
import { setPassword } from "../netrc.ts";
import { CACHE_NIXOS_ORG, CACHE_NIXOS_ORG_KEY, prependToList, setSetting } from "../nix-conf.ts";

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
}

export async function use(ctx: CliContext, cacheRef: string): Promise<number> {
  const conn = await connect(ctx, cacheRef);
  const config = await conn.call("read", (c) => c.getCacheConfig(conn.cache));
  if (!config.substituter_endpoint)
    throw new Error("the server did not return a substituter endpoint for this cache");
  if (!config.public_key) throw new Error("the server did not return a public key for this cache");

  const nixDir = join(configDir(ctx.env), "nix");
  await mkdir(nixDir, { recursive: true });
  const nixConfPath = join(nixDir, "nix.conf");
  let nixConf = await readOrEmpty(nixConfPath);
  nixConf = prependToList(nixConf, "substituters", config.substituter_endpoint, [CACHE_NIXOS_ORG]);
  nixConf = prependToList(nixConf, "trusted-public-keys", config.public_key, [CACHE_NIXOS_ORG_KEY]);

  const token = await resolveToken(conn.server);
  if (token) {
    const netrcPath = join(nixDir, "netrc");
    const host = new URL(config.substituter_endpoint).hostname;
    const netrc = setPassword(await readOrEmpty(netrcPath), host, token);
    await writeFile(netrcPath, netrc, { mode: 0o600 });
    await chmod(netrcPath, 0o600);
    nixConf = setSetting(nixConf, "netrc-file", netrcPath);
    ctx.stderr.write(`+ Token for ${host} written to ${netrcPath}\n`);
  }
  await writeFile(nixConfPath, nixConf);
  ctx.stderr.write(`Configuring Nix to use "${conn.cache}" on "${conn.serverName}":\n`);
  ctx.stderr.write(
    `+ Substituter: ${config.substituter_endpoint}\n+ Trusted Public Key: ${config.public_key}\n`,
  );
  return 0;
}
