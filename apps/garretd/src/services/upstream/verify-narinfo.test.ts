import { fingerprint, formatNarInfo, generateSecretKey, parseSecretKey } from "@garret/nix";
import { describe, expect, it } from "vitest";
import { NarInfoRejected, verifyUpstreamNarInfo } from "./verify-narinfo.ts";

const HASH = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";
const STORE_PATH = `/nix/store/${HASH}-hello`;
const NAR_HASH = "sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3";
const upstream = parseSecretKey(generateSecretKey("upstream-1"));
const other = parseSecretKey(generateSecretKey("other-1"));
const refs = ["0cfhd4iq6c5prb0b4wj2d5mbjm2ix1yj-dep"];

function narInfo(
  signer = upstream,
  overrides: { storePath?: string; sigs?: string[]; system?: string } = {},
) {
  const storePath = overrides.storePath ?? STORE_PATH;
  const print = fingerprint(storePath, NAR_HASH, 1000, refs);
  return formatNarInfo({
    storePath,
    url: "nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz",
    compression: "xz",
    narHash: NAR_HASH,
    narSize: 1000,
    references: refs,
    system: overrides.system,
    sigs: overrides.sigs ?? [signer.sign(print)],
  });
}

const expected = { storePathHash: HASH, storeDir: "/nix/store", trustedKeys: [upstream.publicKey] };

describe("verifyUpstreamNarInfo", () => {
  it("accepts a narinfo signed by a trusted key and keeps only the verified signatures", () => {
    const print = fingerprint(STORE_PATH, NAR_HASH, 1000, refs);
    const sigs = [other.sign(print), upstream.sign(print)];
    const info = verifyUpstreamNarInfo(narInfo(upstream, { sigs }), expected);
    expect(info.storePath).toBe(STORE_PATH);
    expect(info.narHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(info.compression).toBe("xz");
    expect(info.references).toEqual(refs);
    expect(info.sigs).toEqual([upstream.sign(print)]);
  });

  it("rejects a narinfo signed by nobody trusted, or not at all", () => {
    expect(() => verifyUpstreamNarInfo(narInfo(other), expected)).toThrow(NarInfoRejected);
    expect(() => verifyUpstreamNarInfo(narInfo(upstream, { sigs: [] }), expected)).toThrow(/no signature/);
  });

  it("rejects a signature over other contents (a changed NarSize)", () => {
    const text = narInfo().replace("NarSize: 1000", "NarSize: 1001");
    expect(() => verifyUpstreamNarInfo(text, expected)).toThrow(/no signature/);
  });

  it("rejects another store path, another store dir, and garbage", () => {
    const elsewhere = `/nix/store/0cfhd4iq6c5prb0b4wj2d5mbjm2ix1yj-other`;
    expect(() => verifyUpstreamNarInfo(narInfo(upstream, { storePath: elsewhere }), expected)).toThrow(
      /not the requested/,
    );
    expect(() =>
      verifyUpstreamNarInfo(narInfo(upstream, { storePath: `/gnu/store/${HASH}-hello` }), expected),
    ).toThrow(NarInfoRejected);
    expect(() => verifyUpstreamNarInfo("<html>not found</html>", expected)).toThrow(NarInfoRejected);
  });
});
