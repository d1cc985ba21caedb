import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { commandForNewShell } from "./command-on-path.ts";

const dir = mkdtempSync(join(tmpdir(), "garret-path-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function executable(path: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, 0o755);
}

describe("commandForNewShell", () => {
  it("is the bare name when a PATH directory has it", () => {
    executable(join(dir, "bin", "garret"));
    expect(commandForNewShell("garret", { PATH: `/nonexistent:${join(dir, "bin")}` })).toBe("garret");
  });

  it("is node and the absolute launcher otherwise, node_modules/.bin not counting", () => {
    executable(join(dir, "node_modules", ".bin", "garretadm"));
    const spelled = commandForNewShell("garretadm", { PATH: join(dir, "node_modules", ".bin") });
    expect(spelled).toMatch(new RegExp(`^${process.execPath} /.*/apps/garretd/bin/garretadm\\.js$`));
    expect(commandForNewShell("garret", {})).toMatch(/\/apps\/garret\/bin\/garret\.js$/);
  });
});
