import { describe, expect, it } from "vitest";
import { formatNixCacheInfo } from "./cache-info.ts";

describe("formatNixCacheInfo", () => {
  it("writes atticd's exact body", () => {
    expect(formatNixCacheInfo({ storeDir: "/nix/store", priority: 41, wantMassQuery: true })).toBe(
      "WantMassQuery: 1\nStoreDir: /nix/store\nPriority: 41\n",
    );
  });

  it("writes other values verbatim", () => {
    expect(formatNixCacheInfo({ storeDir: "/gnu/store", priority: -3, wantMassQuery: false })).toBe(
      "WantMassQuery: 0\nStoreDir: /gnu/store\nPriority: -3\n",
    );
  });
});
