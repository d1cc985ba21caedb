/**
 * `garretadm tokens`: the token records and revocations in the database (garret extension).
 *
 *     garretadm tokens list [--sub SUB] [--all] [--json]
 *     garretadm tokens revoke --jti JTI
 *     garretadm tokens revoke --sub SUB
 *
 * `list` shows unexpired recorded tokens (`--all`: expired ones too) and the revoked subjects.
 * `revoke --sub` revokes every token of the subject issued up to now, including tokens minted by
 * atticadm, which carry no jti. Running garretd replicas apply revocations within their refresh
 * interval (`[garret.tokens] revocation-refresh-interval`, 5 s by default).
 */
import { type OptionSpecs, parseOptions } from "@garret/cli";
import { type Db, listRevokedSubjects, listTokenRecords, revokeSubject, revokeTokenRecord } from "@garret/db";
import { formatListing } from "../services/tokens.ts";
import { type AdmCommand, type AdmContext, AdmError, UsageError } from "./command.ts";
import { explainMissingTables } from "./database.ts";

const USAGE = `Usage: garretadm tokens <list|revoke> [OPTIONS]

Lists and revokes tokens recorded in the database.

  garretadm tokens list [--sub <SUB>] [--all] [--json]
      --sub <SUB>    Only tokens of this subject
      --all          Include expired tokens
      --json         Print JSON (the same shape as GET /_api/v1/tokens)

  garretadm tokens revoke (--jti <JTI> | --sub <SUB>)
      --jti <JTI>    Revoke one recorded token
      --sub <SUB>    Revoke every token of a subject issued up to now, recorded or not

With an SQLite database, stop garretd first (one process at a time) or use the HTTP API.
`;

const OPTIONS = {
  sub: { type: "string" },
  jti: { type: "string" },
  all: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

async function withDb<T>(ctx: AdmContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await ctx.openDatabase(ctx.loadConfig());
  try {
    return await fn(db).catch(explainMissingTables);
  } finally {
    await db.close();
  }
}

const iso = (seconds: number | null) => (seconds === null ? "-" : new Date(seconds * 1000).toISOString());

export const tokensCommand: AdmCommand = {
  usage: USAGE,
  async run(args, ctx) {
    const [action, ...rest] = args;
    if (action === "-h" || action === "--help" || action === undefined) {
      if (action === undefined) throw new UsageError("no action given: list or revoke");
      ctx.io.stdout(USAGE);
      return 0;
    }
    let values: { sub?: string; jti?: string; all?: boolean; json?: boolean; help?: boolean };
    try {
      ({ values } = parseOptions(rest, OPTIONS, { allowPositionals: false }) as {
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
    if (action === "list") {
      if (values.jti !== undefined) throw new UsageError("--jti is not an option of list");
      const listing = await withDb(ctx, async (db) =>
        formatListing(
          await listTokenRecords(db, {
            ...(values.sub !== undefined && { sub: values.sub }),
            includeExpired: values.all === true,
          }),
          await listRevokedSubjects(db),
        ),
      );
      if (values.json) {
        ctx.io.stdout(`${JSON.stringify(listing, null, 2)}\n`);
        return 0;
      }
      const lines = listing.tokens.map(
        (t) =>
          `${t.jti}  ${t.sub}  ${JSON.stringify(t.caches)}${t.admin ? "  admin" : ""}  origin=${t.origin}` +
          `  expires=${iso(t.expires_at)}  minted=${iso(t.minted_at)} by ${t.minted_by ?? "-"}` +
          (t.revoked_at === null ? "" : `  REVOKED ${iso(t.revoked_at)} by ${t.revoked_by ?? "-"}`),
      );
      for (const s of listing.revoked_subjects) {
        lines.push(
          `subject ${s.sub}: tokens issued up to ${iso(s.revoked_at)} revoked by ${s.revoked_by ?? "-"}`,
        );
      }
      ctx.io.stdout(lines.length === 0 ? "no recorded tokens\n" : `${lines.join("\n")}\n`);
      return 0;
    }
    if (action === "revoke") {
      if ((values.jti === undefined) === (values.sub === undefined)) {
        throw new UsageError("give exactly one of --jti <JTI> and --sub <SUB>");
      }
      if (values.all || values.json) throw new UsageError("--all and --json are options of list");
      const jti = values.jti;
      if (jti !== undefined) {
        const record = await withDb(ctx, (db) => revokeTokenRecord(db, jti, "garretadm"));
        if (!record) throw new AdmError(`no recorded token has jti ${jti}`);
        ctx.io.stdout(`revoked token ${jti} of ${record.sub}\n`);
        return 0;
      }
      const sub = values.sub ?? "";
      if (sub === "") throw new UsageError("--sub must not be empty");
      const { tokens } = await withDb(ctx, (db) => revokeSubject(db, sub, "garretadm"));
      ctx.io.stdout(`revoked every token of ${sub} issued up to now (${tokens} recorded)\n`);
      return 0;
    }
    throw new UsageError(`unknown action "${action}": list or revoke`);
  },
};
