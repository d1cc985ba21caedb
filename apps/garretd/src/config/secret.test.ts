import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Secret } from "./secret.ts";

describe("Secret", () => {
  const secret = new Secret("hunter2");

  it("gives the value only through expose()", () => {
    expect(secret.expose()).toBe("hunter2");
  });

  it("prints [redacted] through every usual route", () => {
    expect(String(secret)).toBe("[redacted]");
    expect(`${secret}`).toBe("[redacted]");
    expect(JSON.stringify({ password: secret })).toBe('{"password":"[redacted]"}');
    expect(inspect(secret)).toBe("[redacted]");
    expect(inspect({ nested: { deeper: secret } }, { depth: 10, showHidden: true })).not.toContain("hunter2");
  });

  it("redacts binary secrets too", () => {
    const bytes = new Secret(new Uint8Array([1, 2, 3]));
    expect(inspect(bytes)).toBe("[redacted]");
    expect(JSON.stringify([bytes])).toBe('["[redacted]"]');
    expect(bytes.expose()).toEqual(new Uint8Array([1, 2, 3]));
  });
});
