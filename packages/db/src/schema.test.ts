/** The drizzle definitions in schema.ts against the tables the migrations create, on both databases. */
import { getTableConfig } from "drizzle-orm/pg-core";
import { expect, it } from "vitest";
import { describeEachDb } from "../../../test/support/postgres.ts";
import { tables } from "./client.ts";

/** drizzle's SQL type names → `format_type()` spelling. */
function catalogType(drizzleType: string): string {
  return drizzleType
    .replace(/^bigserial$/, "bigint")
    .replace(/^varchar/, "character varying")
    .replace(/^char\(/, "character(");
}

const ON_DELETE: Record<string, string> = { c: "cascade", n: "set null", a: "no action" };

/** Indexes atticd's SQLite migrations do not leave (migration 5 rebuilds `nar` without it). */
const NOT_ON_SQLITE = new Set(["idx-nar-nar-hash"]);

describeEachDb("schema.ts", (getDb, kind) => {
  for (const table of Object.values(tables)) {
    const config = getTableConfig(table);
    if (kind === "sqlite") {
      it(`${config.name}: columns, indexes and foreign keys match the SQLite database`, async () => {
        const db = getDb();
        const columns = await db.query<{ name: string; not_null: number; has_default: number }>(
          `SELECT name, "notnull" AS not_null, dflt_value IS NOT NULL OR pk = 1 AS has_default
           FROM pragma_table_info($1) ORDER BY name`,
          [config.name],
        );
        expect(columns.map((c) => [c.name, c.not_null === 1, c.has_default === 1])).toEqual(
          config.columns
            .map((c) => [c.name, c.notNull, c.hasDefault || c.getSQLType() === "bigserial"])
            .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        );
        const indexes = await db.query<{ name: string; unique: number }>(
          `SELECT name, "unique" FROM pragma_index_list($1)`,
          [config.name],
        );
        const byName = new Map(indexes.map((i) => [i.name, i.unique === 1]));
        for (const index of config.indexes) {
          if (NOT_ON_SQLITE.has(index.config.name ?? "")) continue;
          expect([index.config.name, byName.get(index.config.name ?? "")]).toEqual([
            index.config.name,
            index.config.unique,
          ]);
        }
        const fks = await db.query<{ from: string; on_delete: string }>(
          `SELECT "from", on_delete FROM pragma_foreign_key_list($1)`,
          [config.name],
        );
        expect(fks.map((f) => [f.from, f.on_delete.toLowerCase()]).sort()).toEqual(
          config.foreignKeys.map((f) => [f.reference().columns[0]?.name, f.onDelete]).sort(),
        );
      });
      continue;
    }

    it(`${config.name}: columns match the database`, async () => {
      const columns = await getDb().withSession((s) =>
        s.query<{ name: string; type: string; not_null: boolean; has_default: boolean }>(
          `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null,
                  atthasdef AS has_default
           FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
           ORDER BY attnum`,
          [config.name],
        ),
      );
      expect(columns).toEqual(
        config.columns.map((c) => ({
          name: c.name,
          type: catalogType(c.getSQLType()),
          not_null: c.notNull,
          has_default: c.hasDefault || c.getSQLType() === "bigserial",
        })),
      );
    });

    it(`${config.name}: indexes and foreign keys exist as declared`, async () => {
      const indexes = await getDb().withSession((s) =>
        s.query<{ indexname: string; unique: boolean }>(
          `SELECT i.relname AS indexname, x.indisunique AS unique
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = $1::regclass`,
          [config.name],
        ),
      );
      const byName = new Map(indexes.map((i) => [i.indexname, i.unique]));
      for (const index of config.indexes) {
        expect(byName.get(index.config.name ?? "")).toBe(index.config.unique);
      }
      for (const constraint of config.uniqueConstraints) {
        expect(byName.get(constraint.name ?? "")).toBe(true);
      }
      const fks = await getDb().withSession((s) =>
        s.query<{ conname: string; confdeltype: string }>(
          "SELECT conname, confdeltype FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'",
          [config.name],
        ),
      );
      expect(fks.map((f) => [f.conname, ON_DELETE[f.confdeltype]]).sort()).toEqual(
        config.foreignKeys.map((f) => [f.getName(), f.onDelete]).sort(),
      );
    });
  }
});
