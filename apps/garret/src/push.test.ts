import { describe, expect, it } from "vitest";
import type { PathInfo } from "./nix-cli.ts";
import { filterUpstream, narInfoFor, upstreamSkipMessage } from "./push.ts";

const info = (hash: string, sigs: string[] = [], refs: string[] = []): PathInfo => ({
  path: `/nix/store/${hash}-p`,
  hash,
  narHash: "ab".repeat(32),
  narSize: 10,
  references: refs,
  sigs,
  ca: null,
});

const A = "a".repeat(32);
const B = "b".repeat(32);
const C = "c".repeat(32);

describe("upstream filter", () => {
  const infos = [info(A, ["cache.nixos.org-1:xyz"]), info(B, ["mine:abc"]), info(C)];
  it("drops paths signed by an upstream key name", () => {
    const { kept, skipped } = filterUpstream(infos, ["cache.nixos.org-1"]);
    expect(kept.map((i) => i.hash)).toEqual([B, C]);
    expect(skipped.map((i) => i.hash)).toEqual([A]);
  });
  it("is off for null, [] and [''] (attic#82's workaround)", () => {
    expect(filterUpstream(infos, null).kept).toHaveLength(3);
    expect(filterUpstream(infos, []).kept).toHaveLength(3);
    expect(filterUpstream(infos, [""]).kept).toHaveLength(3);
  });
  it("says how many were skipped and how to stop it", () => {
    expect(upstreamSkipMessage(3, ["cache.nixos.org-1"], "c")).toMatch(
      /skipped 3 paths .*cache\.nixos\.org-1.*--ignore-upstream-cache-filter.*--upstream-cache-key-name ''/,
    );
  });
});

describe("narInfoFor", () => {
  it("sends base-name references and a hex sha256", () => {
    const n = narInfoFor("c", info(A, ["k:s"], [`/nix/store/${B}-dep`, `/nix/store/${A}-p`]), "/nix/store");
    expect(n).toEqual({
      cache: "c",
      store_path_hash: A,
      store_path: `/nix/store/${A}-p`,
      references: [`${B}-dep`, `${A}-p`],
      system: null,
      deriver: null,
      sigs: ["k:s"],
      ca: null,
      nar_hash: `sha256:${"ab".repeat(32)}`,
      nar_size: 10,
    });
  });
});
