#!/usr/bin/env node
// garretadm launcher: Node runs the TypeScript sources itself (type stripping), or the installation's
// bundle of them while it is current (@garret/cli/bundle.js, built by `npm ci`).
if (!process.features.typescript) {
  process.stderr.write(`garretadm needs Node.js 24 or later (this is ${process.version}): see README.md\n`);
  process.exit(1);
}
const { enablePrivateCompileCache } = await import("@garret/cli/compile-cache");
enablePrivateCompileCache();
const { currentBundle } = await import("@garret/cli/bundle");
const bundle = currentBundle("garretadm");
if (bundle) {
  await import(bundle);
} else {
  await import("../src/drizzle-as-commonjs.ts");
  await import("../src/adm/cli.ts");
}
