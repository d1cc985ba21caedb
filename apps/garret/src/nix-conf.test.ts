import { describe, expect, it } from "vitest";
import { CACHE_NIXOS_ORG, CACHE_NIXOS_ORG_KEY, getSetting, prependToList, setSetting } from "./nix-conf.ts";

const SAMPLE = [
  "# user nix.conf",
  "",
  "  substituters   =  https://cache.nixos.org https://other.example   # mirrors",
  "max-jobs = 4",
  "\tinclude extra.conf",
  "trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=",
  "",
].join("\n");

describe("nix.conf editing", () => {
  it("prepends to an existing list keeping spacing and the comment", () => {
    const out = prependToList(SAMPLE, "substituters", "http://h:8080/c");
    expect(out).toBe(
      SAMPLE.replace(
        "  substituters   =  https://cache.nixos.org https://other.example   # mirrors",
        "  substituters   =  http://h:8080/c https://cache.nixos.org https://other.example   # mirrors",
      ),
    );
  });

  it("moves an existing item to the front instead of duplicating it", () => {
    const once = prependToList(SAMPLE, "substituters", "http://h/c");
    const twice = prependToList(once, "substituters", "http://h/c");
    expect(twice).toBe(once);
    expect(prependToList(SAMPLE, "substituters", "https://other.example")).toContain(
      "=  https://other.example https://cache.nixos.org   # mirrors",
    );
  });

  it("appends a new line with defaults when the key is absent", () => {
    const out = prependToList("max-jobs = 4", "substituters", "http://h/c", [CACHE_NIXOS_ORG]);
    expect(out).toBe(`max-jobs = 4\nsubstituters = http://h/c ${CACHE_NIXOS_ORG}\n`);
    expect(prependToList("", "trusted-public-keys", "c:K=", [CACHE_NIXOS_ORG_KEY])).toBe(
      `trusted-public-keys = c:K= ${CACHE_NIXOS_ORG_KEY}\n`,
    );
  });

  it("edits the last occurrence, which is the one Nix applies", () => {
    const text = "substituters = a\nsubstituters = b\n";
    expect(prependToList(text, "substituters", "x")).toBe("substituters = a\nsubstituters = x b\n");
    expect(getSetting(text, "substituters")).toBe("b");
  });

  it("fills an empty value and keeps CRLF line endings", () => {
    expect(prependToList("substituters =\r\nx = 1\r\n", "substituters", "u")).toBe(
      "substituters = u\r\nx = 1\r\n",
    );
  });

  it("does not confuse prefixed keys", () => {
    const text = "extra-substituters = z\n";
    expect(prependToList(text, "substituters", "u")).toBe("extra-substituters = z\nsubstituters = u\n");
  });

  it("sets scalar settings", () => {
    expect(setSetting(SAMPLE, "netrc-file", "/h/.config/nix/netrc")).toBe(
      `${SAMPLE}netrc-file = /h/.config/nix/netrc\n`,
    );
    expect(setSetting("netrc-file = /old # keep\n", "netrc-file", "/new")).toBe("netrc-file = /new # keep\n");
  });

  it("round-trips untouched text byte for byte", () => {
    const out = setSetting(SAMPLE, "max-jobs", "4");
    expect(out).toBe(SAMPLE);
  });
});
