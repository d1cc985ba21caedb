import type { UploadPathNarInfo } from "@garret/protocol";
import { describe, expect, it } from "vitest";
import { frameUpload, narInfoJson } from "./upload-framing.ts";

const FIXTURE: UploadPathNarInfo = {
  cache: "test",
  store_path_hash: "nm1w9sdm6j6icmhd2q3260hl1w9zj6li",
  store_path: "/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps",
  references: [],
  sigs: [],
  nar_hash: "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
  nar_size: 144,
};

describe("upload framing", () => {
  it("serialises in attic's key order with explicit nulls", () => {
    expect(narInfoJson(FIXTURE)).toBe(
      '{"cache":"test","store_path_hash":"nm1w9sdm6j6icmhd2q3260hl1w9zj6li","store_path":"/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps","references":[],"system":null,"deriver":null,"sigs":[],"ca":null,"nar_hash":"sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42","nar_size":144}',
    );
  });

  it("uses the header for small info", () => {
    const f = frameUpload(FIXTURE, false);
    expect(f.headers).toEqual({ "x-attic-nar-info": narInfoJson(FIXTURE) });
    expect(f.preamble.length).toBe(0);
  });

  it("uses a preamble when forced", () => {
    const f = frameUpload(FIXTURE, true);
    const json = narInfoJson(FIXTURE);
    expect(f.headers).toEqual({ "x-attic-nar-info-preamble-size": String(json.length) });
    expect(Buffer.from(f.preamble).toString()).toBe(json);
  });

  it("switches to the preamble at 4096 bytes", () => {
    const base = narInfoJson({ ...FIXTURE, references: [""] }).length;
    const at = (n: number) => frameUpload({ ...FIXTURE, references: ["x".repeat(n)] }, false);
    expect(at(4095 - base).headers["x-attic-nar-info"]).toBeDefined();
    const big = at(4096 - base);
    expect(big.headers["x-attic-nar-info-preamble-size"]).toBe("4096");
    expect(big.preamble.length).toBe(4096);
  });

  it("counts UTF-8 bytes and keeps non-ASCII out of headers", () => {
    const f = frameUpload({ ...FIXTURE, ca: "é" }, false);
    expect(f.headers["x-attic-nar-info-preamble-size"]).toBe(
      String(Buffer.byteLength(narInfoJson({ ...FIXTURE, ca: "é" }))),
    );
  });
});
