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

describeEachDb("schema.ts", (getDb) => {
  for (const table of Object.values(tables)) {
    const config = getTableConfig(table);

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
