/**
 * garretadm's token administration: `make-token --admin`, recording when a Postgres database
 * answers (here the test database, on every database kind, stands in for it), and `tokens list` /
 * `tokens revoke`.
 */
import { type Db, listTokenRecords, loadRevocations } from "@garret/db";
import { beforeAll, describe, expect, it } from "vitest";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { AdmError } from "./command.ts";
import { type AdmIo, runGarretadm } from "./main.ts";

const NOW_MS = 1_900_000_000_000;
const NOW = NOW_MS / 1000;
const SIGNING = `[jwt.signing]\ntoken-hs256-secret-base64 = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n`;
const STORAGE = `[storage]\ntype = "local"\npath = "/s"\n`;
const POSTGRES_TOML = `[database]\nurl = "postgresql://garret@db.invalid/garret"\n${STORAGE}${SIGNING}`;
const EMBEDDED_TOML = `${STORAGE}${SIGNING}`;

describeEachDb("garretadm token administration", (getDb) => {
  let db: Db;
  beforeAll(() => {
    db = getDb();
  });

  async function run(argv: string[], opts: { toml?: string; reachable?: boolean } = {}) {
    let stdout = "";
    let stderr = "";
    let opened = 0;
    const io: AdmIo = {
      env: { HOME: "/home/u" },
      readFile: () => opts.toml ?? POSTGRES_TOML,
      fileExists: (p) => p === "/etc/garret.toml",
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
    };
    const code = await runGarretadm(["-f", "/etc/garret.toml", ...argv], io, {
      now: () => NOW_MS,
      async openDatabase() {
        opened++;
        if (opts.reachable === false) throw new AdmError("cannot reach the database: connect ECONNREFUSED");
        // The shared database outlives each command.
        return { ...db, close: async () => {} };
      },
    });
    return { code, stdout, stderr, opened };
  }

  const payloadOf = (jwt: string) =>
    JSON.parse(Buffer.from(jwt.trim().split(".")[1] ?? "", "base64url").toString()) as Record<
      string,
      unknown
    >;

  describe("garretadm make-token (garret additions)", () => {
    it("adds the admin claim with --admin, also to --dump-claims", async () => {
      const r = await run([
        "make-token",
        "--sub",
        "ops",
        "--validity",
        "1d",
        "--pull",
        "*",
        "--admin",
        "--dump-claims",
      ]);
      expect(r.stdout).toBe(
        `{"exp":${NOW + 86_400},"nbf":${NOW},"sub":"ops","https://jwt.attic.rs/v1":{"caches":{"*":{"r":1}}},` +
          `"https://garret.dev/v1":{"admin":true}}\n`,
      );
      expect(r.opened).toBe(0);
    });

    it("records the token with a jti when the Postgres database answers", async () => {
      const r = await run(["make-token", "--sub", "ci", "--validity", "1h", "--push", "team-*", "--admin"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      const payload = payloadOf(r.stdout);
      expect(payload).toMatchObject({ sub: "ci", exp: NOW + 3600, "https://garret.dev/v1": { admin: true } });
      expect(typeof payload.jti).toBe("string");
      const [record] = await listTokenRecords(db, { sub: "ci", includeExpired: true });
      expect(record).toMatchObject({
        jti: payload.jti,
        permissions: '{"team-*":{"w":1}}',
        admin: true,
        expiresAt: NOW + 3600,
        origin: "garretadm",
        mintedBy: "garretadm",
      });
    });

    it("still mints atticadm's token, unrecorded, when the database is down; records it on the embedded one", async () => {
      const down = await run(["make-token", "--sub", "x", "--validity", "1h", "--pull", "a"], {
        reachable: false,
      });
      expect(down.code).toBe(0);
      expect(down.stderr).toContain("warning: the token is not recorded (cannot reach the database");
      expect(payloadOf(down.stdout)).toEqual({
        exp: NOW + 3600,
        nbf: NOW,
        sub: "x",
        "https://jwt.attic.rs/v1": { caches: { a: { r: 1 } } },
      });
      const embedded = await run(["make-token", "--sub", "x", "--validity", "1h"], { toml: EMBEDDED_TOML });
      expect(embedded).toMatchObject({ code: 0, stderr: "", opened: 1 });
      expect(payloadOf(embedded.stdout).jti).toEqual(expect.any(String));
    });
  });

  describe("garretadm tokens", () => {
    it("lists recorded tokens and revokes by jti and by subject", async () => {
      const minted = await run(["make-token", "--sub", "deploy", "--validity", "1h", "--pull", "prod"]);
      const jti = payloadOf(minted.stdout).jti as string;

      const list = await run(["tokens", "list", "--sub", "deploy", "--all"]);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(`${jti}  deploy  {"prod":{"r":1}}  origin=garretadm`);

      const revoked = await run(["tokens", "revoke", "--jti", jti]);
      expect(revoked).toMatchObject({ code: 0, stdout: `revoked token ${jti} of deploy\n` });
      expect((await loadRevocations(db)).jtis).toContain(jti);
      const json = JSON.parse(
        (await run(["tokens", "list", "--sub", "deploy", "--all", "--json"])).stdout,
      ) as {
        tokens: Array<{ revoked_by: string }>;
      };
      expect(json.tokens[0]?.revoked_by).toBe("garretadm");

      const bySub = await run(["tokens", "revoke", "--sub", "legacy-user"]);
      expect(bySub).toMatchObject({
        code: 0,
        stdout: "revoked every token of legacy-user issued up to now (0 recorded)\n",
      });
      expect((await loadRevocations(db)).subjects.map((s) => s.sub)).toContain("legacy-user");
      expect((await run(["tokens", "list"])).stdout).toContain("subject legacy-user: tokens issued up to");

      expect((await run(["tokens", "revoke", "--jti", "nope"])).stderr).toBe(
        "error: no recorded token has jti nope\n",
      );
    });

    it("rejects bad usage", async () => {
      expect((await run(["tokens"])).code).toBe(2);
      expect((await run(["tokens", "revoke"])).stderr).toContain(
        "exactly one of --jti <JTI> and --sub <SUB>",
      );
      expect((await run(["tokens", "revoke", "--jti", "a", "--sub", "b"])).code).toBe(2);
      expect((await run(["tokens", "frobnicate"])).stderr).toContain('unknown action "frobnicate"');
      expect((await run(["tokens", "--help"])).stdout).toMatch(/^Usage: garretadm tokens/);
    });
  });
});
