import { describe, expect, it } from "vitest";
import { parseAuthorizationHeader } from "./authorization-header.ts";

const basic = (text: string) => `Basic ${Buffer.from(text, "utf8").toString("base64")}`;

describe("parseAuthorizationHeader", () => {
  it("takes the password of a Basic credential", () => {
    expect(parseAuthorizationHeader("Basic c29tZXVzZXI6c29tZXBhc3M=")).toBe("somepass");
  });

  it("matches the scheme in any case", () => {
    expect(parseAuthorizationHeader("baSIC c29tZXVzZXI6c29tZXBhc3M=")).toBe("somepass");
    expect(parseAuthorizationHeader("bearer some-token")).toBe("some-token");
    expect(parseAuthorizationHeader("BEARER some-token")).toBe("some-token");
  });

  it("keeps everything after the first colon and ignores an empty username", () => {
    expect(parseAuthorizationHeader(basic(":a:b:c"))).toBe("a:b:c");
    expect(parseAuthorizationHeader(basic("user:pa ss"))).toBe("pa ss");
  });

  it("returns null for missing or unknown credentials", () => {
    expect(parseAuthorizationHeader(undefined)).toBeNull();
    expect(parseAuthorizationHeader(null)).toBeNull();
    expect(parseAuthorizationHeader("")).toBeNull();
    expect(parseAuthorizationHeader("Token abc")).toBeNull();
    expect(parseAuthorizationHeader("Bearer")).toBeNull();
    expect(parseAuthorizationHeader("Bearer ")).toBeNull();
    expect(parseAuthorizationHeader("Bearersome-token")).toBeNull();
  });

  it("requires exactly one space after the scheme", () => {
    expect(parseAuthorizationHeader("Bearer  some-token")).toBeNull();
    expect(parseAuthorizationHeader("Basic  c29tZXVzZXI6c29tZXBhc3M=")).toBeNull();
    expect(parseAuthorizationHeader("Bearer\tsome-token")).toBeNull();
  });

  it("rejects Basic credentials that are not canonical base64", () => {
    expect(parseAuthorizationHeader("Basic c29tZXVzZXI6c29tZXBhc3M")).toBeNull(); // padding missing
    expect(parseAuthorizationHeader("Basic c29tZXVzZXI6c29tZXBhc3N=")).toBeNull(); // non-zero trailing bits
    expect(parseAuthorizationHeader("Basic c29tZXVzZXI6c29tZXBhc3M==")).toBeNull(); // extra padding
    expect(parseAuthorizationHeader("Basic c29tZXVzZXI6c29tZXBhc3M=\u0020")).toBeNull();
    expect(parseAuthorizationHeader("Basic c29t_XVzZXI6c29tZXBhc3M=")).toBeNull(); // url-safe alphabet
    expect(parseAuthorizationHeader("Basic !!!!")).toBeNull();
  });

  it("rejects Basic credentials without a colon or that are not UTF-8", () => {
    expect(parseAuthorizationHeader(basic("no-colon-here"))).toBeNull();
    expect(
      parseAuthorizationHeader(`Basic ${Buffer.from([0x3a, 0xc3, 0x28]).toString("base64")}`),
    ).toBeNull();
  });
});
