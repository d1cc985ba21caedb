import { describe, expect, it } from "vitest";
import { parseStorePath, sha256ToHex } from "./store-path.ts";

describe("parseStorePath", () => {
  it("splits a store path", () => {
    expect(parseStorePath("/nix/store/i48im7fv8b4pib9gm3lpixkhk4psxqjg-gh-x.txt")).toEqual({
      storeDir: "/nix/store",
      hash: "i48im7fv8b4pib9gm3lpixkhk4psxqjg",
      name: "gh-x.txt",
      baseName: "i48im7fv8b4pib9gm3lpixkhk4psxqjg-gh-x.txt",
    });
  });
  it("rejects sub-paths, other dirs and bad hashes", () => {
    expect(parseStorePath("/nix/store/i48im7fv8b4pib9gm3lpixkhk4psxqjg-x/bin")).toBeNull();
    expect(parseStorePath("/gnu/store/i48im7fv8b4pib9gm3lpixkhk4psxqjg-x")).toBeNull();
    expect(parseStorePath("/nix/store/e48im7fv8b4pib9gm3lpixkhk4psxqjg-x")).toBeNull();
    expect(parseStorePath("/nix/store/i48im7fv8b4pib9gm3lpixkhk4psxqjg")).toBeNull();
  });
});

describe("sha256ToHex", () => {
  // Same NAR hash three ways (a real `nix path-info --json` SRI value).
  const hex = "10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6";
  it("decodes SRI", () => {
    expect(sha256ToHex("sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=")).toBe(hex);
  });
  it("passes hex through", () => {
    expect(sha256ToHex(`sha256:${hex.toUpperCase()}`)).toBe(hex);
  });
  it("decodes nix-base32", () => {
    // `nix-hash --type sha256 --to-base32` of the hex above
    expect(sha256ToHex("sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h")).toBe(hex);
  });
  it("rejects junk", () => {
    expect(() => sha256ToHex("md5:abc")).toThrow();
  });
});
