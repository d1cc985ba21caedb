/**
 * What every command gets: the environment, output sinks, stdin, and `connect`, which turns a cache
 * reference into an API client for the right server plus the context permission hints need.
 */
import type { Readable } from "node:stream";
import { ApiClient } from "./api-client.ts";
import {
  type ClientConfig,
  configPath,
  loadConfig,
  type ResolvedCache,
  resolveCacheRef,
  resolveToken,
} from "./config.ts";
import { HintedError } from "./errors.ts";
import { type Action, permissionHint } from "./hints.ts";
import type { Sink } from "./progress.ts";
import type { RetryEnv } from "./retry.ts";
import { formatRetry } from "./retry-message.ts";
import { tokenExpiry } from "./token-expiry.ts";

export { HintedError, UsageError } from "./errors.ts";

export interface CliContext {
  env: NodeJS.ProcessEnv;
  stdout: Sink;
  stderr: Sink;
  stdin: Readable & { isTTY?: boolean };
  version: string;
  /** Aborted on SIGINT/SIGTERM; long-running commands stop cleanly. */
  signal: AbortSignal;
  retryEnv?: RetryEnv;
}

export interface Connection extends ResolvedCache {
  config: ClientConfig;
  client: ApiClient;
  /** Runs an API call, attaching a permission hint to its failure. */
  call<T>(action: Action, fn: (client: ApiClient) => Promise<T>): Promise<T>;
}

export async function connect(ctx: CliContext, cacheRef: string): Promise<Connection> {
  const config = await loadConfig(configPath(ctx.env));
  const resolved = resolveCacheRef(config, cacheRef);
  const token = await resolveToken(resolved.server);
  const client = new ApiClient({
    endpoint: resolved.server.endpoint,
    token,
    userAgent: `garret/${ctx.version}`,
    retryEnv: ctx.retryEnv,
    onRetry: (what, error, attempt, delayMs) =>
      ctx.stderr.write(`${formatRetry(what, error, attempt, delayMs)}\n`),
  });
  const connection: Connection = {
    ...resolved,
    config,
    client,
    async call(action, fn) {
      try {
        return await fn(connection.client);
      } catch (e) {
        throw new HintedError(
          e,
          permissionHint(e, {
            serverName: resolved.serverName,
            endpoint: resolved.server.endpoint,
            hasToken: client.hasToken,
            cache: resolved.cache,
            action,
            tokenExpiresAt: tokenExpiry(token),
          }),
        );
      }
    },
  };
  return connection;
}
