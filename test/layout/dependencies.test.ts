/**
 * The layout README states, held by a test: the dependency directions between workspace packages,
 * every package.json listing exactly what its sources import (the root one: what tests, benchmarks
 * and deploy scripts use), no source file reaching into another package or into test/ by a relative
 * path, services free of hono, and no test-only code in src/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Workspace package (short name) → the workspace packages its sources may import (README, Layout). */
const ALLOWED: Record<string, readonly string[]> = {
  nix: [],
  chunking: [],
  storage: [],
  cli: [],
  protocol: ["nix"],
  token: ["protocol"],
  db: [],
  garretd: ["nix", "protocol", "cli", "token", "db", "storage", "chunking"],
  garret: ["nix", "protocol", "cli", "chunking"],
};

interface Workspace {
  name: string;
  dir: string;
  manifest: { name: string; dependencies?: Record<string, string> };
}

function workspaces(): Workspace[] {
  const out: Workspace[] = [];
  for (const group of ["packages", "apps"]) {
    for (const entry of readdirSync(join(ROOT, group), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(ROOT, group, entry.name);
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Workspace["manifest"];
      out.push({ name: entry.name, dir, manifest });
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) out.push((m[1] ?? m[2] ?? m[3]) as string);
  return out;
}

function packageOf(specifier: string): string | null {
  if (specifier.startsWith(".") || specifier.startsWith("node:")) return null;
  if (builtinModules.includes(specifier)) return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

const isTest = (file: string) => file.endsWith(".test.ts");

describe("layout", () => {
  const all = workspaces();

  it.each(all.map((w) => [w.name, w] as const))("%s imports only what README allows", (name, w) => {
    const allowed = new Set((ALLOWED[name] ?? []).map((p) => `@garret/${p}`));
    const wrong: string[] = [];
    for (const file of sourceFiles(join(w.dir, "src")).filter((f) => !isTest(f))) {
      for (const spec of importsOf(file)) {
        const pkg = packageOf(spec);
        if (pkg?.startsWith("@garret/") && !allowed.has(pkg)) wrong.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
    expect(ALLOWED[name], `add ${name} to the README's dependency directions and ALLOWED`).toBeDefined();
    expect(wrong).toEqual([]);
  });

  it.each(
    all.map((w) => [w.name, w] as const),
  )("%s/package.json lists exactly what its sources import", (_n, w) => {
    const imported = new Set<string>();
    for (const file of sourceFiles(join(w.dir, "src")).filter((f) => !isTest(f))) {
      for (const spec of importsOf(file)) {
        const pkg = packageOf(spec);
        if (pkg) imported.add(pkg);
      }
    }
    const declared = new Set(
      Object.keys(w.manifest.dependencies ?? {}).filter((d) => !d.startsWith("@types/")),
    );
    expect([...imported].filter((p) => !declared.has(p)).sort(), "imported but not declared").toEqual([]);
    expect([...declared].filter((p) => !imported.has(p)).sort(), "declared but never imported").toEqual([]);
  });

  it("source files reach neither into other packages nor into test/ by relative paths", () => {
    const wrong: string[] = [];
    for (const w of all) {
      for (const file of sourceFiles(join(w.dir, "src"))) {
        for (const spec of importsOf(file)) {
          if (!spec.startsWith(".")) continue;
          const target = resolve(file, "..", spec);
          if (!target.startsWith(`${w.dir}/`)) wrong.push(`${relative(ROOT, file)}: ${spec}`);
        }
      }
    }
    expect(wrong.filter((w) => !/\.test\.ts: .*\/test\/support\//.test(w))).toEqual([]);
  });

  it("services never import hono, and src/ holds no test-only modules", () => {
    const services = sourceFiles(join(ROOT, "apps/garretd/src/services")).filter((f) => !isTest(f));
    const honoUsers = services.filter((f) => importsOf(f).some((s) => packageOf(s)?.startsWith("hono")));
    expect(honoUsers.map((f) => relative(ROOT, f))).toEqual([]);
    const sources = all.flatMap((w) => sourceFiles(join(w.dir, "src"))).filter((f) => !isTest(f));
    const importedBySources = new Set(
      sources.flatMap((f) =>
        importsOf(f)
          .filter((s) => s.startsWith("."))
          .map((s) => resolve(f, "..", s)),
      ),
    );
    const testOnly = sources.filter(
      (f) =>
        (/test/.test(relative(ROOT, f)) || importsOf(f).some((s) => packageOf(s) === "vitest")) &&
        !importedBySources.has(f),
    );
    expect(testOnly.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it("the root package.json declares what tests, benchmarks and deploy scripts use, and nothing else", () => {
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      devDependencies?: Record<string, string>;
      scripts?: Record<string, string>;
    };
    const declared = Object.keys(root.devDependencies ?? {});
    // Test code may also use what the workspace it tests depends on (installed for that workspace).
    const workspaceDeps = new Set(all.flatMap((w) => Object.keys(w.manifest.dependencies ?? {})));
    // The files the root scripts run (`node apps/garretd/bin/build-bundle.js` at npm ci) are the
    // root's too: what they import is installed by the root's devDependencies.
    const scriptFiles = Object.values(root.scripts ?? {}).flatMap((command) =>
      [...command.matchAll(/\bnode\s+(\S+\.[cm]?[jt]s)\b/g)].map((m) => join(ROOT, m[1] as string)),
    );
    const files = [
      ...["test", "bench", "deploy"].flatMap((d) => sourceFiles(join(ROOT, d))),
      ...scriptFiles,
      join(ROOT, "vitest.config.ts"),
      ...all.flatMap((w) => sourceFiles(join(w.dir, "src")).filter(isTest)),
    ];
    const imported = new Set(files.flatMap((f) => importsOf(f).flatMap((s) => packageOf(s) ?? [])));
    const undeclared = [...imported].filter(
      (p) => !p.startsWith("@garret/") && !declared.includes(p) && !workspaceDeps.has(p),
    );
    expect(undeclared.sort(), "imported by tests, benchmarks or deploy scripts but not declared").toEqual([]);
    // Used without an import: tools the scripts and configuration name, packages loaded by require
    // or read by path (their name in quotes).
    const mentions = [
      ...files.map((f) => readFileSync(f, "utf8")),
      JSON.stringify(root.scripts ?? {}),
      readFileSync(join(ROOT, "tsconfig.json"), "utf8"),
      readFileSync(join(ROOT, "biome.json"), "utf8"),
    ].join("\n");
    const used = (p: string) =>
      imported.has(p) ||
      new RegExp(`["'\`]${p.replace("@types/", "")}[/"'\`]`).test(mentions) ||
      (p === "@biomejs/biome" && /\bbiome\b/.test(JSON.stringify(root.scripts ?? {}))) ||
      (p === "typescript" && /\btsc\b/.test(JSON.stringify(root.scripts ?? {})));
    expect(declared.filter((p) => !used(p)).sort(), "declared but never used").toEqual([]);
  });
});
