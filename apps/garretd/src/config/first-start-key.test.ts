/** firstStartKeyAhead: a key is generated ahead exactly when this start will write the first configuration. */
import { createPrivateKey } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { firstStartKeyAhead } from "./first-start-key.ts";

const home = mkdtempSync(join(tmpdir(), "garret-first-key-"));
const withConfig = mkdtempSync(join(tmpdir(), "garret-first-key-cfg-"));
mkdirSync(join(withConfig, ".config", "garret"), { recursive: true });
writeFileSync(join(withConfig, ".config", "garret", "server.toml"), 'listen = "[::]:8080"\n');
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(withConfig, { recursive: true, force: true });
});

describe("firstStartKeyAhead", () => {
  it("generates a 4096-bit PKCS#1 RS256 key when no configuration exists and the mode writes one", async () => {
    const key = firstStartKeyAhead([], { HOME: home });
    expect(key).toBeInstanceOf(Promise);
    const pem = await key;
    expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(createPrivateKey(pem as string).asymmetricKeyDetails?.modulusLength).toBe(4096);
  });

  it("generates nothing when a configuration is found, for other modes, --help and bad arguments", () => {
    expect(firstStartKeyAhead([], { HOME: withConfig })).toBeUndefined();
    expect(firstStartKeyAhead(["-f", join(home, "nowhere.toml")], { HOME: home })).toBeUndefined();
    expect(
      firstStartKeyAhead([], { HOME: home, ATTIC_SERVER_CONFIG_BASE64: "bGlzdGVuID0gIjoxIgo=" }),
    ).toBeUndefined();
    expect(firstStartKeyAhead(["--mode", "api-server"], { HOME: home })).toBeUndefined();
    expect(firstStartKeyAhead(["--help"], { HOME: home })).toBeUndefined();
    expect(firstStartKeyAhead(["--no-such-option"], { HOME: home })).toBeUndefined();
    expect(firstStartKeyAhead([], {})).toBeUndefined();
  });
});
