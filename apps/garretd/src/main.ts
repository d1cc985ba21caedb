/**
 * garretd's entry point: arguments → configuration (or the first-start setup) → the chosen mode.
 *
 *   monolithic              migrations, GC loop and API server (default)
 *   api-server              API server only (no migrations: run `--mode db-migrations` once)
 *   garbage-collector       GC loop only
 *   garbage-collector-once  one GC run, then exit
 *   db-migrations           apply migrations, then exit
 *   check-config            load and validate the configuration, connect nowhere, exit 0 or 1
 */
import { existsSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { flushCompileCache } from "node:module";
import { createWorkerPool } from "@garret/chunking";
import { type Db, insertTokenRecord, migrate, type NewTokenRecord } from "@garret/db";
import { getRequestListener } from "@hono/node-server";
import { buildDeps, openDatabase } from "./build-deps.ts";
import { ArgsError, helpOrVersion, parseGarretdArgs } from "./config/args.ts";
import { type Config, ConfigError, loadConfig } from "./config/config.ts";
import { LegacyEmbeddedDatabaseError } from "./config/embedded-database.ts";
import { runFirstStart } from "./config/oobe.ts";
import { DataDirectoryBusyError } from "./data-dir-lock.ts";
import { formatDryRun } from "./gc/dry-run-report.ts";
import { createLogger, type Logger, parseLogLevel } from "./log.ts";
import { runConfiguredGc } from "./ops/configured-gc.ts";
import { checkListenAddress, ListenError } from "./ops/listen-check.ts";
import { PrivateDirError, privateRoots, securePrivateRoots } from "./ops/private-dirs.ts";
import { settleMemoryAfterStart } from "./ops/settle-memory.ts";
import { warnIfStorageWithoutIndex } from "./ops/storage-without-index.ts";
import { createOpsApp } from "./routes/ops.ts";
import { type ConnectionBounds, createGarretServer, listen } from "./server.ts";

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  opts: { firstStartKey?: Promise<string> } = {},
): Promise<number> {
  let args: ReturnType<typeof parseGarretdArgs>;
  try {
    args = parseGarretdArgs(argv);
  } catch (err) {
    if (err instanceof ArgsError) {
      process.stderr.write(`error: ${err.message}\n\nRun 'garretd --help' for the options.\n`);
      return 2;
    }
    throw err;
  }
  const answer = helpOrVersion(args);
  if (answer !== null) {
    process.stdout.write(answer);
    return 0;
  }
  const levelOverride = args.logLevel ?? env.GARRET_LOG ?? env.ATTICD_LOG;
  let log = createLogger(parseLogLevel(levelOverride));

  let config: Config | null;
  let rootToken: NewTokenRecord | undefined;
  try {
    const input = {
      configPath: args.configPath,
      listen: args.listen,
      env,
      readFile: (p: string) => readFileSync(p, "utf8"),
      fileExists: (p: string) => existsSync(p),
    };
    config = loadConfig(input);
    if (!config && args.mode === "monolithic") {
      const first = await runFirstStart(env, args.listen, opts.firstStartKey);
      rootToken = first.rootToken;
      process.stderr.write(first.message);
      config = loadConfig(input);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (!config) {
    process.stderr.write(
      "error: no configuration found: pass -f PATH, set ATTIC_SERVER_CONFIG_BASE64, or start once in monolithic mode to create one\n",
    );
    return 1;
  }
  // `[garret] log-level` applies unless the command line or the environment chose a level.
  if (levelOverride === undefined && config.garret.logLevel) log = createLogger(config.garret.logLevel);
  const configured = config;
  if (args.mode === "check-config") {
    process.stdout.write(`configuration from ${config.source} is valid\n`);
    return 0;
  }

  log.info("starting garretd", {
    mode: args.mode,
    config: config.source,
    database: config.database.kind,
    storage: config.storage.type,
  });
  try {
    // Bound before anything runs: a busy port must not cost a migration and a full GC first.
    if (args.mode === "monolithic" || args.mode === "api-server") await checkListenAddress(config.listen);
    if (
      config.garret.metricsListen &&
      args.mode !== "db-migrations" &&
      args.mode !== "garbage-collector-once"
    ) {
      await checkListenAddress(config.garret.metricsListen);
    }
  } catch (err) {
    if (err instanceof ListenError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  try {
    for (const warning of securePrivateRoots(privateRoots(config))) log.warn(warning);
  } catch (err) {
    if (err instanceof PrivateDirError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // The process's worker threads (compression, SQLite's WAL checkpoints), none before a first task;
  // closed after the database, whose close waits for a checkpoint in flight on them.
  const workers = createWorkerPool();
  let db: Db;
  try {
    db = await openDatabase(config, log, workers);
  } catch (err) {
    if (err instanceof DataDirectoryBusyError || err instanceof LegacyEmbeddedDatabaseError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  try {
    if (args.mode === "db-migrations" || args.mode === "monolithic") {
      const result = await migrate(db);
      log.info("database migrations applied", { applied: result.applied, adoptedAtticd: result.adopted });
      if (rootToken) {
        // Recorded like a garretadm token, so `garretadm tokens` lists it and it can be revoked by jti.
        await insertTokenRecord(db, rootToken).catch((err: unknown) =>
          log.warn("the first start's root token is not recorded; revoke it by subject if needed", { err }),
        );
      }
      if (args.mode === "db-migrations") return 0;
    }
    const deps = await buildDeps(config, db, log, workers);
    if (args.mode !== "garbage-collector-once") {
      await warnIfStorageWithoutIndex(config, deps, (text) => process.stderr.write(text)).catch((err) =>
        log.warn("could not compare the storage with the database", { err }),
      );
    }
    const bounds: ConnectionBounds = {
      headerTimeoutMs: config.garret.requestHeaderTimeoutMs,
      idleTimeoutMs: config.garret.requestIdleTimeoutMs,
      maxConnections: config.garret.maxConnections,
    };
    const gcOnce = () => runConfiguredGc(configured, deps, { dryRun: args.dryRun ?? false });
    try {
      if (args.mode === "garbage-collector-once") {
        const summary = await gcOnce();
        if (args.dryRun) process.stdout.write(formatDryRun(summary));
        return 0;
      }
      // Listened for before serving starts: a stop asked for while the listeners open (or while the
      // compile cache is written, below) waits for that to finish instead of killing the process.
      const signalled = waitForSignal(log);
      const stopGc =
        args.mode === "monolithic" || args.mode === "garbage-collector"
          ? startGcLoop(gcOnce, config.garbageCollection.intervalSeconds, log)
          : () => {};
      const server =
        args.mode === "garbage-collector"
          ? null
          : await listen(createGarretServer(deps).listener, config.listen, log, "listening", bounds);
      const metricsListen = config.garret.metricsListen;
      const metricsServer = metricsListen
        ? await listen(
            getRequestListener(createOpsApp(deps).fetch),
            metricsListen,
            log,
            "metrics listening",
            bounds,
          )
        : null;
      // Everything a serving process loads is loaded: write the compile cache now (Node would only at
      // exit), so a start after a crash is as quick as after a clean stop.
      flushCompileCache();
      const stopSettling = settleMemoryAfterStart();
      await signalled;
      stopSettling();
      stopGc();
      if (metricsServer) await closeServer(metricsServer, log);
      if (server) await closeServer(server, log);
      return 0;
    } finally {
      await deps.close();
    }
  } finally {
    await closeDb(db, log);
    await workers.close();
  }
}

/** GC runs at start, then `interval` after each run ends; 0 disables the loop (atticd's rule). */
function startGcLoop(run: () => Promise<unknown>, intervalSeconds: number, log: Logger): () => void {
  if (intervalSeconds <= 0) return () => {};
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = async () => {
    try {
      await run();
    } catch (err) {
      log.error("garbage collection failed", { err });
    }
    if (!stopped) timer = setTimeout(tick, intervalSeconds * 1000);
  };
  timer = setTimeout(tick, 0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function waitForSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info("shutting down", { signal });
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** Stops accepting connections, lets in-flight requests finish for a while, then cuts the rest. */
async function closeServer(server: Server, log: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timeout = setTimeout(() => {
    log.warn("closing connections still open after 30 s");
    server.closeAllConnections();
  }, 30_000);
  await closed;
  clearTimeout(timeout);
}

async function closeDb(db: Db, log: Logger): Promise<void> {
  await db.close().catch((err: unknown) => log.warn("error closing the database", { err }));
}
