/** Validation of option values shared by several commands. */
import { UsageError } from "./errors.ts";

/** `-j/--jobs`: a positive integer (attic rejects 0). */
export function parseJobs(value: string | undefined, fallback = 5): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1024) {
    throw new UsageError(`--jobs must be an integer between 1 and 1024, got "${value}"`);
  }
  return Number(value);
}

/** `--priority`: an i32, as the server stores it. */
export function parsePriority(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--priority must be an integer, got "${value}"`);
  const n = Number(value);
  if (n < -2_147_483_648 || n > 2_147_483_647) throw new UsageError(`--priority out of range: ${value}`);
  return n;
}

/** ENDPOINT of `login`: an http(s) URL. */
export function parseEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`invalid endpoint "${value}": expected a URL like http://localhost:8080`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`invalid endpoint "${value}": only http and https are supported`);
  }
  return value;
}
