/**
 * A throwaway Postgres database for the "postgres + local" configuration, created on the server
 * named by the benchmark's --postgres-url (127.0.0.1:5432, user postgres, trust auth on our
 * machines) and dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export async function createDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `garret_bench_${randomBytes(5).toString("hex")}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    try {
      await client.connect();
      await client.query(sql);
    } finally {
      await client.end().catch(() => {});
    }
  };
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (err) {
    throw new Error(
      `cannot create a database on ${adminUrl}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
