import { describe, expect, it } from "vitest";
import { tokenExpiry } from "./token-expiry.ts";

const jwt = (payload: unknown) =>
  `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;

describe("tokenExpiry", () => {
  it("reads exp from the payload, and nothing from what is not a JWT", () => {
    expect(tokenExpiry(jwt({ exp: 1735786800, sub: "a" }))).toBe(1735786800);
    expect(tokenExpiry(jwt({ sub: "a" }))).toBeUndefined();
    expect(tokenExpiry("not-a-token")).toBeUndefined();
    expect(tokenExpiry("a.%%%.b")).toBeUndefined();
    expect(tokenExpiry(undefined)).toBeUndefined();
  });
});
