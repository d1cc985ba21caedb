/**
 * Small HTTP and storage helpers shared by the tests that drive a real garretd: create a cache
 * with atticd's API and read its public key, and list the chunk files of a local storage directory.
 */
import { readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { expect } from "vitest";

/** Creates a cache (generated key) and returns its public key. */
export async function createCacheOver(
  url: string,
  token: string,
  name: string,
  opts: { isPublic?: boolean } = {},
): Promise<string> {
  const auth = { authorization: `Bearer ${token}` };
  const res = await fetch(`${url}/_api/v1/cache-config/${name}`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      keypair: "Generate",
      is_public: opts.isPublic ?? false,
      store_dir: "/nix/store",
      priority: 41,
      upstream_cache_key_names: [],
    }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const cfg = await fetch(`${url}/_api/v1/cache-config/${name}`, { headers: auth });
  return ((await cfg.json()) as { public_key: string }).public_key;
}

/** Paths of the files in a local storage directory, VERSION excluded, sorted. */
export async function storageFilePaths(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name !== "VERSION") out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Files in a local storage directory, VERSION excluded, sorted by name. */
export async function storageFileNames(dir: string): Promise<string[]> {
  return (await storageFilePaths(dir)).map((p) => basename(p)).sort();
}
