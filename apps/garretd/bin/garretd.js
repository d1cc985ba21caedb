#!/usr/bin/env node
// garretd launcher: Node runs the TypeScript sources itself (type stripping); no loader, no build step.
if (!process.features.typescript) {
  process.stderr.write(`garretd needs Node.js 24 or later (this is ${process.version}): see README.md\n`);
  process.exit(1);
}
const { relaunchTuned } = await import("@garret/cli/start-tuning");
relaunchTuned();
const { enablePrivateCompileCache } = await import("@garret/cli/compile-cache");
enablePrivateCompileCache();
await import("../src/drizzle-as-commonjs.ts");
await import("../src/cli.ts");
