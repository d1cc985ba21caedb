import { describe, expect, it } from "vitest";
import { getPassword, setPassword } from "./netrc.ts";

const SAMPLE = [
  "# personal netrc",
  "machine github.com",
  "    login me",
  "    password ghp_old   # machine commented.example password x",
  "",
  "machine cache.example.com login x password old-token",
  "macdef init",
  "machine evil.example password nope",
  "",
  "machine other.example password p",
].join("\n");

describe("netrc editing", () => {
  it("replaces the password of an existing machine in place", () => {
    const out = setPassword(SAMPLE, "cache.example.com", "new-token");
    expect(out).toBe(SAMPLE.replace("password old-token", "password new-token"));
    expect(getPassword(out, "cache.example.com")).toBe("new-token");
  });

  it("appends a new machine with a newline and is idempotent", () => {
    const out = setPassword(SAMPLE, "127.0.0.1", "tok");
    expect(out).toBe(`${SAMPLE}\nmachine 127.0.0.1 password tok\n`);
    expect(setPassword(out, "127.0.0.1", "tok")).toBe(out);
  });

  it("adds a password to an entry that has none", () => {
    expect(setPassword("machine h login u\n", "h", "t")).toBe("machine h password t login u\n");
  });

  it("ignores machines inside macdef bodies", () => {
    const out = setPassword(SAMPLE, "evil.example", "t");
    expect(out.endsWith("machine evil.example password t\n")).toBe(true);
    expect(out.startsWith(SAMPLE)).toBe(true);
  });

  it("inserts before a default entry so curl still finds it", () => {
    const text = "machine a password 1\ndefault password d\n";
    expect(setPassword(text, "b", "2")).toBe(
      "machine a password 1\nmachine b password 2\ndefault password d\n",
    );
    expect(getPassword(text, "zzz")).toBe("d");
  });

  it("quotes secrets with whitespace", () => {
    expect(setPassword("", "h", "a b")).toBe('machine h password "a b"\n');
    expect(getPassword('machine h password "a b"\n', "h")).toBe("a b");
  });

  it("skips comments", () => {
    expect(getPassword(SAMPLE, "commented.example")).toBeUndefined();
    expect(setPassword(SAMPLE, "commented.example", "t")).toBe(
      `${SAMPLE}\nmachine commented.example password t\n`,
    );
  });

  it("starts an empty file", () => {
    expect(setPassword("", "h", "t")).toBe("machine h password t\n");
  });
});
