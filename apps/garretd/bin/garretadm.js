#!/usr/bin/env node
/** garretadm launcher: registers tsx (the project runs TypeScript without a build) and starts the CLI. */
import { register } from "tsx/esm/api";

register();
await import("../src/adm/cli.ts");
