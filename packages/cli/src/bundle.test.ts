/**
 * When the launcher runs the installation's bundle (bundle.js): only while every file it was built
 * from is as the manifest recorded it. Run on a copy of bundle.js in a scratch checkout, so that the
 * real bundle and sources are never touched.
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

type BundleModule = typeof import("../bundle.js");

let checkout = "";
let bundle: BundleModule;
let source = "";

beforeEach(async () => {
  checkout = await mkdtemp(join(tmpdir(), "garret-bundle-test-"));
  await mkdir(join(checkout, "packages", "cli"), { recursive: true });
  const copy = join(checkout, "packages", "cli", "bundle.js");
  await copyFile(new URL("../bundle.js", import.meta.url), copy);
  bundle = (await import(pathToFileURL(copy).href)) as BundleModule;
  source = join(checkout, "src", "main.ts");
  await mkdir(join(checkout, "src"));
  await writeFile(source, "export const answer: number = 42;\n");
  const build = join(bundle.BUNDLE_DIR, "x-1");
  await mkdir(build, { recursive: true, mode: 0o755 });
  await chmod(bundle.BUNDLE_DIR, 0o755);
  await writeFile(join(build, "x.mjs"), "export const answer = 42;\n");
  await writeFile(bundle.manifestPath("x"), JSON.stringify(bundle.manifestOf("x-1/x.mjs", [source])));
});

afterEach(async () => {
  await rm(checkout, { recursive: true, force: true });
});

const entry = () => pathToFileURL(join(bundle.BUNDLE_DIR, "x-1", "x.mjs")).href;

describe("currentBundle", () => {
  it("is the entry while its inputs are unchanged", () => {
    expect(bundle.CHECKOUT).toBe(`${checkout}/`);
    expect(bundle.currentBundle("x", {})).toBe(entry());
  });

  it("is null once an input is edited, even to the same size", async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(source, "export const answer: number = 43;\n");
    expect(bundle.currentBundle("x", {})).toBeNull();
  });

  it("is null when an input is gone, or there is no manifest", async () => {
    expect(bundle.currentBundle("y", {})).toBeNull();
    await rm(source);
    expect(bundle.currentBundle("x", {})).toBeNull();
  });

  it("is null with GARRET_BUNDLE=0", () => {
    expect(bundle.currentBundle("x", { GARRET_BUNDLE: "0" })).toBeNull();
  });

  it("is null when others may write the bundle's directories", async () => {
    await chmod(join(bundle.BUNDLE_DIR, "x-1"), 0o775);
    expect(bundle.currentBundle("x", {})).toBeNull();
    await chmod(join(bundle.BUNDLE_DIR, "x-1"), 0o755);
    await chmod(bundle.BUNDLE_DIR, 0o777);
    expect(bundle.currentBundle("x", {})).toBeNull();
  });

  it("rejects inputs outside the checkout", () => {
    expect(() => bundle.manifestOf("x-1/x.mjs", ["/etc/hostname"])).toThrow(/outside the checkout/);
  });
});
