/**
 * The shape of a garretadm subcommand, so new ones are one table entry in main.ts.
 */

import type { Db } from "@garret/db";
import type { Config, Env } from "../config/config.ts";

export interface AdmIo {
  env: Env;
  readFile(path: string): string;
  fileExists(path: string): boolean;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface AdmContext {
  io: AdmIo;
  /** Loads the configuration (never runs the first start); throws ConfigError. */
  loadConfig(): Config;
  /** Unix milliseconds. */
  now(): number;
  /** Connects to the configuration's database; the caller closes it. Throws when unreachable. */
  openDatabase(config: Config, opts?: { connectTimeoutMs?: number }): Promise<Db>;
}

export interface AdmCommand {
  usage: string;
  /** Returns the exit code. Throws UsageError for bad arguments. */
  run(args: string[], ctx: AdmContext): Promise<number>;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure to report as "error: message" with exit code 1. */
export class AdmError extends Error {
  override name = "AdmError";
}
