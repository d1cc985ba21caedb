/**
 * Test tiers. `npm test` runs every tier whose real component is available:
 * unit and app tests always; the database matrix always includes SQLite and adds real Postgres when
 * GARRET_TEST_POSTGRES_URL is set; the Nix tier runs when GARRET_TEST_NIX=1 (CI sets both).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "apps/*/src/**/*.test.ts",
      "test/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
