import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NixCli, toPathInfo } from "./nix-cli.ts";

const P = "/nix/store/i48im7fv8b4pib9gm3lpixkhk4psxqjg-gh-x.txt";

describe("toPathInfo", () => {
  it("reads Nix 2.8's path-info JSON", () => {
    expect(
      toPathInfo(
        {
          path: P,
          narHash: "sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=",
          narSize: 120,
          references: [P],
          signatures: ["k-1:abc"],
          ca: "fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h",
          registrationTime: 1,
        },
        "/nix/store",
      ),
    ).toEqual({
      path: P,
      hash: "i48im7fv8b4pib9gm3lpixkhk4psxqjg",
      narHash: "10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6",
      narSize: 120,
      references: [P],
      sigs: ["k-1:abc"],
      ca: "fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h",
    });
  });
  it("reports invalid paths", () => {
    expect(() => toPathInfo({ path: P, valid: false }, "/nix/store")).toThrow(/not valid/);
  });
});

describe("resolvePath", () => {
  it("follows symlinks from outside the store and maps sub-paths to the store object", async () => {
    const dir = await mkdtemp(join(tmpdir(), "garret-resolve-"));
    await symlink(`${P}/bin/x`, join(dir, "result"));
    await symlink(join(dir, "result"), join(dir, "link2"));
    const nix = new NixCli("/nix/store");
    expect(await nix.resolvePath(join(dir, "link2"))).toBe(P);
    expect(await nix.resolvePath(P)).toBe(P);
    await expect(nix.resolvePath(dir)).rejects.toThrow(/not in the Nix store/);
    await expect(nix.resolvePath("/nix/store/notahash")).rejects.toThrow(/not a valid store path/);
  });
});
