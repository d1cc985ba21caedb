import { describe, expect, it } from "vitest";
import { pathForLockFile } from "./watch-store.ts";

const H = "i48im7fv8b4pib9gm3lpixkhk4psxqjg";

describe("pathForLockFile", () => {
  it("maps lock files to store paths", () => {
    expect(pathForLockFile(`${H}-hello.lock`, "/nix/store")).toBe(`/nix/store/${H}-hello`);
  });
  it("skips derivations, sources and other files", () => {
    expect(pathForLockFile(`${H}-hello.drv.lock`, "/nix/store")).toBeNull();
    expect(pathForLockFile(`${H}-source.lock`, "/nix/store")).toBeNull();
    expect(pathForLockFile(`${H}-hello`, "/nix/store")).toBeNull();
    expect(pathForLockFile(".links.lock", "/nix/store")).toBeNull();
  });
});
