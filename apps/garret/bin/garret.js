#!/usr/bin/env node
/** `garret` executable: runs the TypeScript sources through tsx (no build step). */
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
