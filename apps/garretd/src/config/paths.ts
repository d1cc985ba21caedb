/**
 * Where garretd looks for its configuration and keeps its data, following the XDG base directory
 * rules atticd uses (an empty variable counts as unset).
 *
 * - config: `$XDG_CONFIG_HOME/attic/server.toml` (atticd's own file, so an existing deployment keeps
 *   working), then `$XDG_CONFIG_HOME/garret/server.toml` (written by garret's first start);
 *   `XDG_CONFIG_HOME` defaults to `$HOME/.config`.
 * - data: `$GARRET_DATA_DIR`, else `$XDG_DATA_HOME/garret` (`XDG_DATA_HOME` defaults to
 *   `$HOME/.local/share`), else systemd's `$STATE_DIRECTORY` for services that have no home.
 */

import { join } from "node:path";

export type Env = Readonly<Record<string, string | undefined>>;

export function envValue(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

export function xdgConfigHome(env: Env): string | undefined {
  const explicit = envValue(env, "XDG_CONFIG_HOME");
  if (explicit) return explicit;
  const home = envValue(env, "HOME");
  return home ? join(home, ".config") : undefined;
}

/** The two config files, in lookup order, or `undefined` when neither HOME nor XDG_CONFIG_HOME is set. */
export function configSearchPaths(env: Env): { attic: string; garret: string } | undefined {
  const base = xdgConfigHome(env);
  if (!base) return undefined;
  return { attic: join(base, "attic", "server.toml"), garret: join(base, "garret", "server.toml") };
}

export function dataDirectory(env: Env): string | undefined {
  const explicit = envValue(env, "GARRET_DATA_DIR");
  if (explicit) return explicit;
  const xdg = envValue(env, "XDG_DATA_HOME");
  if (xdg) return join(xdg, "garret");
  const home = envValue(env, "HOME");
  if (home) return join(home, ".local", "share", "garret");
  const state = envValue(env, "STATE_DIRECTORY");
  return state ? state.split(":")[0] : undefined;
}
