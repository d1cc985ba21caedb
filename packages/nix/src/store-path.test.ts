import { describe, expect, it } from "vitest";
import { NixFormatError } from "./errors.ts";
import {
  isValidStorePathHash,
  isValidStorePathName,
  parseStorePath,
  parseStorePathBaseName,
  parseStorePathHash,
  storeDirOf,
} from "./store-path.ts";

const HASH = "ia70ss13m22znbl8khrf2hq72qmh5drr";

function errorOf(fn: () => unknown): NixFormatError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NixFormatError) return err;
    throw err;
  }
  throw new Error("expected a NixFormatError");
}

describe("parseStorePath", () => {
  it("extracts the base name, tolerating a trailing slash", () => {
    expect(parseStorePath(`/gnu/store/${HASH}-firefox-91.0/`, "/gnu/store")).toEqual({
      storeDir: "/gnu/store",
      hash: HASH,
      name: "firefox-91.0",
      baseName: `${HASH}-firefox-91.0`,
    });
    expect(parseStorePath(`/nix/store/${HASH}-ruby-2.7.3`).baseName).toBe(`${HASH}-ruby-2.7.3`);
    expect(parseStorePath(`/nix/store/${HASH}-ruby-2.7.3`, "/nix/store/").storeDir).toBe("/nix/store");
  });

  it.each([
    [`/nix/store/${HASH}-ruby-2.7.3`, "/gnu/store", "Path is not in store directory"],
    [`/gnu/storefoo/${HASH}-ruby-2.7.3`, "/gnu/store", "Path is not in store directory"],
    ["relative/path", "/nix/store", "Path is not in store directory"],
    ["/gnu/store", "/gnu/store", "Path is store directory itself"],
    ["/gnu/store/", "/gnu/store", "Path is store directory itself"],
    ["/nix/store/tooshort", "/nix/store", "Path is too short"],
    [`/nix/store/${HASH}-ruby/bin/ruby`, "/nix/store", "Path points inside a store path, not at one"],
    [`/nix/store//${HASH}-ruby`, "/nix/store", "Path points inside a store path, not at one"],
  ])("rejects %s under %s", (path, storeDir, message) => {
    const err = errorOf(() => parseStorePath(path, storeDir));
    expect(err.kind).toBe("InvalidStorePath");
    expect(err.message).toBe(message);
  });
});

describe("parseStorePathBaseName", () => {
  it("splits hash and name", () => {
    expect(parseStorePathBaseName("xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10")).toEqual({
      hash: "xcp9cav49dmsjbwdjlmkjxj10gkpx553",
      name: "hello-2.10",
    });
    expect(parseStorePathBaseName(`${HASH}-a+b-_c.d?e=f`).name).toBe("a+b-_c.d?e=f");
  });

  it.each([
    [`${"e".repeat(32)}-name`, /hash/],
    [`${HASH.toUpperCase()}-name`, /hash/],
    [HASH, /no '-'/],
    [`${HASH}_name`, /no '-'/],
    [`${HASH}-`, /name/],
    [`${HASH}-shocking!!!`, /name/],
    [`${HASH}-.hidden`, /name/],
    [`${HASH}-caf\u00e9`, /name/],
    [`${HASH}-bad\ud800`, /name/],
    [`${HASH}-a,b`, /name/],
    [`${HASH}-a b`, /name/],
    [`${HASH}-${"a".repeat(212)}`, /name/],
  ])("rejects %j", (base, message) => {
    const err = errorOf(() => parseStorePathBaseName(base));
    expect(err.kind).toBe("InvalidStorePath");
    expect(err.message).toMatch(message);
  });

  it("accepts a name of exactly 211 characters", () => {
    expect(parseStorePathBaseName(`${HASH}-${"a".repeat(211)}`).name).toHaveLength(211);
  });
});

describe("hashes and names", () => {
  it("validates store path hashes", () => {
    expect(isValidStorePathHash(HASH)).toBe(true);
    expect(isValidStorePathHash(HASH.slice(1))).toBe(false);
    expect(isValidStorePathHash(`${HASH}0`)).toBe(false);
    expect(isValidStorePathHash("e".repeat(32))).toBe(false);
    expect(parseStorePathHash(HASH)).toBe(HASH);
    expect(errorOf(() => parseStorePathHash("tooshort")).kind).toBe("InvalidStorePathHash");
  });

  it("validates names", () => {
    expect(isValidStorePathName("hello-2.10")).toBe(true);
    expect(isValidStorePathName("source")).toBe(true);
    expect(isValidStorePathName("")).toBe(false);
    expect(isValidStorePathName(".git")).toBe(false);
    expect(isValidStorePathName("a/b")).toBe(false);
  });

  it("takes the store dir from a path's parent", () => {
    expect(storeDirOf(`/nix/store/${HASH}-x`)).toBe("/nix/store");
    expect(storeDirOf(`/${HASH}-x`)).toBe("/");
  });
});
