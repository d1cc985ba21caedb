import { describe, expect, it } from "vitest";
import { ApiError } from "./api-client.ts";
import { type HintContext, permissionHint } from "./hints.ts";

const ctx: HintContext = {
  serverName: "ro",
  endpoint: "http://h/",
  hasToken: true,
  cache: "test",
  action: "push",
};
const err = (status: number, error: string) =>
  new ApiError(status, { code: status, error, message: "m" }, "");

describe("permissionHint", () => {
  it("names the missing letter on 403", () => {
    expect(permissionHint(err(403, "AccessError"), ctx)).toBe(
      `hint: the token of server "ro" (http://h/) can see cache "test" but lacks "w" (push).`,
    );
    expect(permissionHint(err(403, "AccessError"), { ...ctx, action: "read" })).toMatch(
      /push-only token cannot read it/,
    );
  });
  it("distinguishes anonymous from rejected tokens on 401", () => {
    expect(permissionHint(err(401, "Unauthorized"), { ...ctx, hasToken: false })).toMatch(
      /no token.*\n.*garret login ro http:\/\/h\/ <TOKEN>/,
    );
    expect(permissionHint(err(401, "Unauthorized"), ctx)).toMatch(/token of server "ro" .* was rejected/);
  });
  it("names an expired token with its expiry instead of guessing", () => {
    const expired = { ...ctx, tokenExpiresAt: Date.UTC(2025, 0, 2) / 1000, now: Date.UTC(2026, 0, 1) };
    for (const e of [err(401, "Unauthorized"), err(403, "AccessError")]) {
      expect(permissionHint(e, expired)).toBe(
        `hint: the token of server "ro" (http://h/) expired at 2025-01-02T00:00:00.000Z, so the request was anonymous.\n` +
          "      Log in with a new token: garret login ro http://h/ <TOKEN>",
      );
    }
    const valid = { ...expired, now: Date.UTC(2024, 0, 1) };
    expect(permissionHint(err(401, "Unauthorized"), valid)).toMatch(/was rejected/);
  });
  it("suggests creating a missing cache and stays quiet otherwise", () => {
    expect(permissionHint(err(404, "NoSuchCache"), ctx)).toBe(
      "hint: create it with: garret cache create ro:test",
    );
    expect(permissionHint(err(400, "RequestError"), ctx)).toBeUndefined();
    expect(permissionHint(new Error("x"), ctx)).toBeUndefined();
  });
  it("names d for deletes and explains what atticd lacks", () => {
    expect(permissionHint(err(403, "AccessError"), { ...ctx, action: "delete" })).toMatch(
      /lacks "d" \(delete paths\)\. Mint one with: garretadm make-token .* --delete test$/,
    );
    expect(permissionHint(err(403, "AccessError"), { ...ctx, action: "pin" })).toMatch(/lacks "cr"/);
    expect(permissionHint(err(404, "NotFound"), { ...ctx, action: "pin" })).toBe(
      'hint: server "ro" (http://h/) does not support pins (a garret extension; atticd has none).',
    );
    expect(permissionHint(new ApiError(405, undefined, ""), { ...ctx, action: "delete" })).toMatch(
      /does not support deleting paths/,
    );
    expect(permissionHint(err(404, "NotFound"), ctx)).toBeUndefined();
  });
});
