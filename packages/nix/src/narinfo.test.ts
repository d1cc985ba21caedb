import { describe, expect, it } from "vitest";
import { NixFormatError } from "./errors.ts";
import { fingerprint, formatNarInfo, type NarInfo, parseNarInfo } from "./narinfo.ts";
import { verifySignature } from "./signing.ts";

// cache.nixos.org's narinfo for hello-2.10, as in attic's narinfo tests (leading blank line kept).
const HELLO = `
StorePath: /nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10
URL: nar/0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9.nar.xz
Compression: xz
FileHash: sha256:0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9
FileSize: 41104
NarHash: sha256:16mvl7v0ylzcg2n3xzjn41qhzbmgcn5iyarx16nn5l2r36n2kqci
NarSize: 206104
References: 563528481rvhc5kxwipjmg6rqrl95mdx-glibc-2.33-56 xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10
Deriver: vvb4wxmnjixmrkhmj2xb75z62hrr41i7-hello-2.10.drv
Sig: cache.nixos.org-1:lo9EfNIL4eGRuNh7DTbAAffWPpI2SlYC/8uP7JnhgmfRIUNGhSbFe8qEaKN0mFS02TuhPpXFPNtRkFcCp0hGAQ==
  \n\n`;

const HELLO_EXPECTED: NarInfo = {
  storePath: "/nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10",
  url: "nar/0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9.nar.xz",
  compression: "xz",
  fileHash: "sha256:0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9",
  fileSize: 41104,
  narHash: "sha256:16mvl7v0ylzcg2n3xzjn41qhzbmgcn5iyarx16nn5l2r36n2kqci",
  narSize: 206104,
  references: [
    "563528481rvhc5kxwipjmg6rqrl95mdx-glibc-2.33-56",
    "xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10",
  ],
  deriver: "vvb4wxmnjixmrkhmj2xb75z62hrr41i7-hello-2.10.drv",
  sigs: [
    "cache.nixos.org-1:lo9EfNIL4eGRuNh7DTbAAffWPpI2SlYC/8uP7JnhgmfRIUNGhSbFe8qEaKN0mFS02TuhPpXFPNtRkFcCp0hGAQ==",
  ],
};

const HELLO_FINGERPRINT =
  "1;/nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10;sha256:16mvl7v0ylzcg2n3xzjn41qhzbmgcn5iyarx16nn5l2r36n2kqci;206104;/nix/store/563528481rvhc5kxwipjmg6rqrl95mdx-glibc-2.33-56,/nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10";
const CACHE_NIXOS_ORG_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

const MINIMAL =
  "StorePath: /nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps\n" +
  "URL: nar/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar\n" +
  "Compression: zstd\n" +
  "NarHash: sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42\n" +
  "NarSize: 144\n" +
  "References: \n";

function narInfoError(text: string): string {
  try {
    parseNarInfo(text);
  } catch (err) {
    if (err instanceof NixFormatError && err.kind === "InvalidNarInfo") return err.message;
    throw err;
  }
  throw new Error("expected parseNarInfo to fail");
}

describe("parseNarInfo", () => {
  it("parses the cache.nixos.org hello-2.10 narinfo", () => {
    expect(parseNarInfo(HELLO)).toEqual(HELLO_EXPECTED);
  });

  it("round-trips through formatNarInfo", () => {
    const text = formatNarInfo(parseNarInfo(HELLO));
    expect(text).toBe(`${HELLO.trim()}\n`);
    expect(parseNarInfo(text)).toEqual(HELLO_EXPECTED);
  });

  it("reads atticd's own output, empty References included", () => {
    const info = parseNarInfo(MINIMAL);
    expect(info.references).toEqual([]);
    expect(info.sigs).toEqual([]);
    expect(info.fileHash).toBeUndefined();
    expect(info.deriver).toBeUndefined();
    expect(formatNarInfo(info)).toBe(MINIMAL);
  });

  it("treats unknown-deriver as no deriver and ignores unknown keys", () => {
    const info = parseNarInfo(`${MINIMAL}Deriver: unknown-deriver\nFoo: bar\nSystem: x86_64-linux\n`);
    expect(info.deriver).toBeUndefined();
    expect(info.system).toBe("x86_64-linux");
    expect(Object.keys(info)).not.toContain("Foo");
  });

  it("reads the value two characters after the colon, as Nix does", () => {
    expect(parseNarInfo(MINIMAL.replace("URL: nar/", "URL:nar/")).url).toBe(
      "ar/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar",
    );
  });

  it("defaults a missing Compression to bzip2, as Nix does", () => {
    expect(parseNarInfo(MINIMAL.replace("Compression: zstd\n", "")).compression).toBe("bzip2");
  });

  it("accepts a missing References line, several Sig lines and CA", () => {
    const info = parseNarInfo(
      `${MINIMAL.replace("References: \n", "")}Sig: a:AAAA\nSig: b:BBBB\nSig: a:AAAA\nCA: fixed:r:sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms\n`,
    );
    expect(info.references).toEqual([]);
    expect(info.sigs).toEqual(["a:AAAA", "b:BBBB"]);
    expect(info.ca).toBe("fixed:r:sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms");
  });

  it("accepts SRI and hex hashes", () => {
    const sri = parseNarInfo(
      MINIMAL.replace(/NarHash: .*/, "NarHash: sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI="),
    );
    expect(sri.narHash).toBe("sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI=");
  });

  it.each([
    ["missing StorePath", MINIMAL.replace(/StorePath: .*\n/, ""), /missing StorePath/],
    ["missing URL", MINIMAL.replace(/URL: .*\n/, ""), /missing URL/],
    ["empty URL", MINIMAL.replace(/URL: .*\n/, "URL: \n"), /missing URL/],
    ["missing NarHash", MINIMAL.replace(/NarHash: .*\n/, ""), /missing NarHash/],
    ["missing NarSize", MINIMAL.replace(/NarSize: .*\n/, ""), /zero NarSize/],
    ["zero NarSize", MINIMAL.replace("NarSize: 144", "NarSize: 0"), /zero NarSize/],
    ["negative NarSize", MINIMAL.replace("NarSize: 144", "NarSize: -1"), /NarSize is not/],
    ["huge NarSize", MINIMAL.replace("NarSize: 144", "NarSize: 99999999999999999999"), /NarSize is not/],
    ["bad FileSize", `${MINIMAL}FileSize: 1e3\n`, /FileSize is not/],
    ["bare hash", MINIMAL.replace("NarHash: sha256:", "NarHash: "), /NarHash/],
    ["bad FileHash", `${MINIMAL}FileHash: md5:abc\n`, /FileHash/],
    ["bad StorePath", MINIMAL.replace("/nix/store/nm1w", "/nix/store/em1w"), /StorePath/],
    ["relative StorePath", MINIMAL.replace("StorePath: /nix/store/", "StorePath: "), /StorePath/],
    ["bad reference", MINIMAL.replace("References: ", "References: not-a-path"), /References/],
    ["bad deriver", `${MINIMAL}Deriver: foo.drv\n`, /Deriver/],
    ["two References lines", `${MINIMAL}References: \n`, /References appears more than once/],
    ["two StorePath lines", `${MINIMAL}${MINIMAL.split("\n")[0]}\n`, /StorePath appears more than once/],
    ["line without colon", `${MINIMAL}garbage\n`, /line 7 has no ':'/],
    ["CRLF", MINIMAL.replaceAll("\n", "\r\n"), /carriage return/],
    ["more than 1 MiB", `${MINIMAL}X-Padding: ${"a".repeat(1024 * 1024)}\n`, /larger than/],
    ["empty file", "", /missing StorePath/],
  ])("rejects %s", (_, text, message) => {
    expect(narInfoError(text)).toMatch(message);
  });
});

describe("formatNarInfo", () => {
  it("writes atticd's field order with one Sig line each", () => {
    const text = formatNarInfo({
      storePath: "/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps",
      url: "nar/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar",
      compression: "zstd",
      fileHash: "sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms",
      fileSize: 100,
      narHash: "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
      narSize: 144,
      references: ["b", "a"],
      system: "x86_64-linux",
      deriver: "dvz2n7iqlpa2rs9mqhx4mhkzrgrpca8v-attic-test-no-deps.drv",
      sigs: ["k1:AAAA", "k2:BBBB"],
      ca: "fixed:sha256:x",
    });
    expect(text.split("\n").map((line) => line.slice(0, line.indexOf(":")))).toEqual([
      "StorePath",
      "URL",
      "Compression",
      "FileHash",
      "FileSize",
      "NarHash",
      "NarSize",
      "References",
      "System",
      "Deriver",
      "Sig",
      "Sig",
      "CA",
      "",
    ]);
    expect(text).toContain("\nReferences: b a\n");
    expect(text.endsWith("CA: fixed:sha256:x\n")).toBe(true);
  });
});

describe("fingerprint", () => {
  it("uses nix32 for a hex NarHash and full, sorted reference paths", () => {
    const hexHash = "sha256:91e129ac1959d062ad093d2b1f8b65afae0f712056fe3eac78ec530ff6a1bb9a";
    expect(fingerprint(HELLO_EXPECTED.storePath, hexHash, 206104, HELLO_EXPECTED.references)).toBe(
      HELLO_FINGERPRINT,
    );
    expect(
      fingerprint(HELLO_EXPECTED.storePath, hexHash, 206104, [...HELLO_EXPECTED.references].reverse()),
    ).toBe(HELLO_FINGERPRINT);
  });

  it("makes the cache.nixos.org signature verify", () => {
    const info = parseNarInfo(HELLO);
    const fp = fingerprint(info.storePath, info.narHash, info.narSize, info.references);
    expect(fp).toBe(HELLO_FINGERPRINT);
    expect(verifySignature(CACHE_NIXOS_ORG_KEY, fp, info.sigs[0] ?? "")).toBe(true);
    expect(verifySignature(CACHE_NIXOS_ORG_KEY, fp.replace(";206104;", ";206105;"), info.sigs[0] ?? "")).toBe(
      false,
    );
  });

  it("keeps the trailing ';' without references and uses the path's own store dir", () => {
    expect(
      fingerprint(
        "/gnu/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-x",
        "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
        144,
        [],
      ),
    ).toBe(
      "1;/gnu/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-x;sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms;144;",
    );
    expect(
      fingerprint(
        "/gnu/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-x",
        "sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms",
        144,
        ["xcp9cav49dmsjbwdjlmkjxj10gkpx553-b", "563528481rvhc5kxwipjmg6rqrl95mdx-a"],
      ),
    ).toMatch(
      /;144;\/gnu\/store\/563528481rvhc5kxwipjmg6rqrl95mdx-a,\/gnu\/store\/xcp9cav49dmsjbwdjlmkjxj10gkpx553-b$/,
    );
  });

  it("rejects an unparseable NarHash", () => {
    expect(() => fingerprint(HELLO_EXPECTED.storePath, "md5:x", 1, [])).toThrow(NixFormatError);
  });
});

describe("line breaks and NUL (defence in depth)", () => {
  it("formatNarInfo refuses a value holding CR, LF or NUL", () => {
    const base = parseNarInfo(HELLO);
    for (const bad of ["x\nURL: https://evil.example/x.nar", "x\r", "x\0"]) {
      expect(() => formatNarInfo({ ...base, ca: bad })).toThrow(NixFormatError);
      expect(() => formatNarInfo({ ...base, system: bad })).toThrow(NixFormatError);
      expect(() => formatNarInfo({ ...base, storePath: `/nix/store${bad}` })).toThrow(NixFormatError);
      expect(() => formatNarInfo({ ...base, sigs: [bad] })).toThrow(NixFormatError);
    }
    expect(formatNarInfo(base)).toContain("StorePath: ");
  });

  it("parseNarInfo refuses NUL and other control characters", () => {
    expect(() => parseNarInfo(`${HELLO}CA: fixed:r:sha256:x\0\n`)).toThrow(/control character/);
    expect(() => parseNarInfo(`${HELLO}System: x86_64-linux\t\n`)).toThrow(/control character/);
  });
});
