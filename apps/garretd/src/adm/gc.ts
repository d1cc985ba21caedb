/**
 * `garretadm gc [--dry-run]`: one garbage collection now, with the configuration's retention
 * settings, through the same entry point as `garretd --mode garbage-collector-once`. When another
 * collector holds the lock it does nothing and says so (exit 0). `--dry-run` lists what would go.
 */
import { type OptionSpecs, parseOptions } from "@garret/cli";
import { createStorage, type StorageBackend } from "@garret/storage";
import { storageConfigFrom } from "../build-deps.ts";
import { formatDryRun } from "../gc/dry-run-report.ts";
import { createLogger } from "../log.ts";
import { runConfiguredGc } from "../ops/configured-gc.ts";
import { type AdmCommand, UsageError } from "./command.ts";

const USAGE = `Usage: garretadm gc [--dry-run]

Runs one garbage collection now (as garretd --mode garbage-collector-once does).

  --dry-run    Report what would be deleted; delete nothing

Safe next to running garretd processes on Postgres: only one collector runs at a time. With an
SQLite database, stop garretd first.
`;

const OPTIONS = {
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

export const gcCommand: AdmCommand = {
  usage: USAGE,
  async run(args, ctx) {
    let values: { "dry-run"?: boolean; help?: boolean };
    try {
      ({ values } = parseOptions(args, OPTIONS, { allowPositionals: false }) as {
        values: typeof values;
        positionals: string[];
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) {
      ctx.io.stdout(USAGE);
      return 0;
    }
    const config = ctx.loadConfig();
    const dryRun = values["dry-run"] === true;
    const log = createLogger("warn", (line) => ctx.io.stderr(line));
    const db = await ctx.openDatabase(config);
    let storage: StorageBackend | undefined;
    try {
      storage = await createStorage(storageConfigFrom(config));
      const summary = await runConfiguredGc(
        config,
        { db, storage, log },
        { dryRun, now: new Date(ctx.now()) },
      );
      if (dryRun) ctx.io.stdout(formatDryRun(summary));
      else if (!summary.ran) ctx.io.stdout("garbage collection skipped: another collector holds the lock\n");
      else {
        ctx.io.stdout(
          `garbage collection: deleted ${summary.objects} objects, ${summary.nars} NARs, ${summary.chunks} chunks ` +
            `(${summary.bytes} bytes freed) in ${summary.ms} ms` +
            (summary.failedDeletions > 0
              ? `; ${summary.failedDeletions} file deletions failed and will be retried`
              : "") +
            "\n",
        );
      }
      return 0;
    } finally {
      storage?.destroy?.();
      await db.close();
    }
  },
};
