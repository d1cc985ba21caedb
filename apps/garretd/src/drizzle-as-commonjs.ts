/**
 * Loads drizzle-orm through its CommonJS build. Node 24's ESM loader reads the package scope of every
 * module it loads and, doing so, parses that package.json's `exports` again each time; drizzle-orm's
 * is 179 KB and garretd loads ~200 of its modules: ~0.45 s of CPU and ~80 MB of garbage that the heap
 * keeps at start. The CommonJS loader caches it. Registered by the garretd and garretadm launchers
 * before anything imports @garret/db when they run the sources; every drizzle-orm import resolves
 * this way, so there is one copy of drizzle in the process. (The bundles have drizzle's ES modules
 * inlined, once, and load none from node_modules; tests load drizzle through vitest.)
 */
import { registerHooks } from "node:module";

const COMMONJS = ["node", "require", "default"];

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === "drizzle-orm" || specifier.startsWith("drizzle-orm/"))
      return nextResolve(specifier, { ...context, conditions: COMMONJS });
    return nextResolve(specifier, context);
  },
});
