/**
 * An upstream binary cache that nginx cannot play: an in-process HTTP server serving signed
 * narinfos and uncompressed NARs of synthetic paths, that counts requests and can stop sending in
 * the middle of a NAR. For pull-through tests (the real-Nix proof against nginx is
 * test/nix/pull-through.test.ts).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fingerprint, formatNarInfo, generateSecretKey, parseSecretKey } from "@garret/nix";
import { randomStorePathHash, sha256Hex } from "./nar.ts";

export interface ServedPath {
  nar: Buffer;
  /** Stop sending (but keep the connection) after this many bytes. */
  stallAfter?: number;
  /** Hashes of other served paths this one references. */
  references?: string[];
  /** The store directory the narinfo's StorePath names; default `/nix/store`. */
  storeDir?: string;
}

export interface FakeUpstream {
  url: string;
  /** The public key that signs its narinfos (`fake-upstream-1:…`). */
  publicKey: string;
  /** Serves the path; returns its store path hash. */
  addPath(served: ServedPath): string;
  narRequests: Map<string, number>;
  narInfoRequests: Map<string, number>;
  close(): Promise<void>;
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const key = parseSecretKey(generateSecretKey("fake-upstream-1"));
  const paths = new Map<string, ServedPath>();
  const narRequests = new Map<string, number>();
  const narInfoRequests = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const narinfo = /^\/([0-9a-z]{32})\.narinfo$/.exec(req.url ?? "");
    const narFile = /^\/nar\/([0-9a-z]{32})\.nar$/.exec(req.url ?? "");
    const served = paths.get(narinfo?.[1] ?? narFile?.[1] ?? "");
    if (!served) {
      res.writeHead(404).end();
      return;
    }
    if (narinfo) {
      const hash = narinfo[1] as string;
      narInfoRequests.set(hash, (narInfoRequests.get(hash) ?? 0) + 1);
      const references = (served.references ?? []).map((h) => `${h}-pulled`);
      const storePath = `${served.storeDir ?? "/nix/store"}/${hash}-pulled`;
      const narHash = sha256Hex(served.nar);
      const print = fingerprint(storePath, narHash, served.nar.length, references);
      res.writeHead(200, { "content-type": "text/x-nix-narinfo" }).end(
        formatNarInfo({
          storePath,
          url: `nar/${hash}.nar`,
          compression: "none",
          narHash,
          narSize: served.nar.length,
          references,
          sigs: [key.sign(print)],
        }),
      );
      return;
    }
    const hash = narFile?.[1] as string;
    narRequests.set(hash, (narRequests.get(hash) ?? 0) + 1);
    res.writeHead(200, { "content-length": served.nar.length });
    if (served.stallAfter === undefined) res.end(served.nar);
    else res.write(served.nar.subarray(0, served.stallAfter));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    publicKey: key.publicKey,
    addPath(served) {
      const hash = randomStorePathHash();
      paths.set(hash, served);
      return hash;
    },
    narRequests,
    narInfoRequests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
