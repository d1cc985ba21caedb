/**
 * HTTP client for atticd's API (attic `client/src/api/mod.rs`), on Node's global fetch.
 *
 * Every request carries `User-Agent: garret/<version>` and, when a token is configured,
 * `Authorization: bearer <token>`. Errors arrive as `{"code":403,"error":"AccessError","message":"…"}`
 * and surface as ApiError with message `AccessError: …`, else `HTTP <status>: <body>`.
 * Uploads go through node:http (see http-put.ts for why not fetch). Read-only calls and uploads are retried on network errors, 408/429 and 5xx; create and destroy
 * are retried only when the connection was never made, because a repeat after success would fail.
 */
import {
  type CacheConfigPatch,
  CacheConfigResponseSchema,
  type CacheStats,
  CHUNK_FRAME_HEADER_BYTES,
  CHUNK_UPLOAD_PATH,
  type ChunkUploadOffer,
  ChunkUploadOfferSchema,
  type CreateCacheRequest,
  type ErrorBody,
  type GetMissingPathsResponse,
  isErrorBody,
  type Pin,
  type PinRequest,
  type UploadPathNarInfo,
  type UploadPathResult,
} from "@garret/protocol";
import type { z } from "zod";
import { BodyError, nodePutStream, type PutStream } from "./http-put.ts";
import {
  DEFAULT_RETRY_POLICY,
  isConnectError,
  isNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryEnv,
  type RetryPolicy,
  realRetryEnv,
  TransientError,
  withRetry,
} from "./retry.ts";
import { frameUpload } from "./upload-framing.ts";

export type CacheConfigResponse = z.infer<typeof CacheConfigResponseSchema>;

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody | undefined;
  readonly text: string;

  constructor(status: number, body: ErrorBody | undefined, text: string) {
    super(body ? `${body.error}: ${body.message}` : `HTTP ${status}: ${text.trim() || "(empty body)"}`);
    this.status = status;
    this.body = body;
    this.text = text;
  }
}

/** A fresh NAR stream for one upload attempt; `cancel` stops its producer. */
export interface NarStream {
  body: AsyncIterable<Uint8Array>;
  cancel(): void;
}

export interface ApiClientOptions {
  endpoint: string;
  token?: string;
  userAgent: string;
  fetch?: typeof fetch;
  putStream?: PutStream;
  retry?: RetryPolicy;
  retryEnv?: RetryEnv;
  now?: () => number;
  onRetry?: (what: string, error: unknown, attempt: number, delayMs: number) => void;
}

type RetryMode = "transient" | "connect-only";

/** Ensures URL joining keeps a path prefix: `http://h/attic` is treated as `http://h/attic/`. */
export function normalizeEndpoint(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.toString();
}

export class ApiClient {
  readonly endpoint: string;
  private readonly fetchImpl: typeof fetch;
  private readonly putStream: PutStream;
  private readonly policy: RetryPolicy;
  private readonly retryEnv: RetryEnv;
  private readonly now: () => number;
  private readonly options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.options = options;
    this.endpoint = normalizeEndpoint(options.endpoint);
    this.fetchImpl = options.fetch ?? fetch;
    this.putStream = options.putStream ?? nodePutStream;
    this.policy = options.retry ?? DEFAULT_RETRY_POLICY;
    this.retryEnv = options.retryEnv ?? realRetryEnv;
    this.now = options.now ?? Date.now;
  }

  get hasToken(): boolean {
    return this.options.token !== undefined && this.options.token !== "";
  }

  /** A client for the `api_endpoint` a cache-config response names. */
  withEndpoint(endpoint: string): ApiClient {
    return new ApiClient({ ...this.options, endpoint });
  }

  async getCacheConfig(cache: string): Promise<CacheConfigResponse> {
    const res = await this.request("GET", `_api/v1/cache-config/${cache}`, undefined, "transient");
    return CacheConfigResponseSchema.parse(await res.json());
  }

  async createCache(cache: string, request: CreateCacheRequest): Promise<void> {
    await this.request("POST", `_api/v1/cache-config/${cache}`, request, "connect-only");
  }

  async configureCache(cache: string, patch: CacheConfigPatch): Promise<void> {
    await this.request("PATCH", `_api/v1/cache-config/${cache}`, patch, "transient");
  }

  async destroyCache(cache: string): Promise<void> {
    await this.request("DELETE", `_api/v1/cache-config/${cache}`, undefined, "connect-only");
  }

  /** garret extension; atticd answers 404 NotFound. */
  async getCacheStats(cache: string): Promise<CacheStats> {
    const res = await this.request("GET", `_api/v1/caches/${cache}/stats`, undefined, "transient");
    return parseCacheStats(await res.json());
  }

  /** garret extension: creates or replaces pin `name`. */
  async putPin(cache: string, name: string, request: PinRequest): Promise<Pin> {
    const res = await this.request(
      "PUT",
      `_api/v1/caches/${cache}/pins/${encodeURIComponent(name)}`,
      request,
      "transient",
    );
    return parsePin(await res.json());
  }

  async listPins(cache: string): Promise<Pin[]> {
    const res = await this.request("GET", `_api/v1/caches/${cache}/pins`, undefined, "transient");
    const body = (await res.json()) as { pins?: unknown };
    if (!Array.isArray(body.pins)) throw new Error("pins: malformed response");
    return body.pins.map(parsePin);
  }

  /** A repeat after success would answer NotFound, so only unconnected attempts are retried. */
  async deletePin(cache: string, name: string): Promise<void> {
    await this.request(
      "DELETE",
      `_api/v1/caches/${cache}/pins/${encodeURIComponent(name)}`,
      undefined,
      "connect-only",
    );
  }

  /** garret extension on the binary cache route (needs `d`); retried like destroy. */
  async deletePath(cache: string, storePathHash: string): Promise<void> {
    await this.request("DELETE", `${cache}/${storePathHash}.narinfo`, undefined, "connect-only");
  }

  async getMissingPaths(cache: string, storePathHashes: string[]): Promise<string[]> {
    const res = await this.request(
      "POST",
      "_api/v1/get-missing-paths",
      { cache, store_path_hashes: storePathHashes },
      "transient",
    );
    const body = (await res.json()) as GetMissingPathsResponse;
    if (!Array.isArray(body.missing_paths)) throw new Error("get-missing-paths: malformed response");
    return body.missing_paths;
  }

  /** garret's chunk-upload extension (docs/chunk-upload.md); null when the server lacks it (atticd: 404). */
  async getChunkUploadOffer(): Promise<ChunkUploadOffer | null> {
    try {
      const res = await this.request("GET", CHUNK_UPLOAD_PATH, undefined, "transient");
      const parsed = ChunkUploadOfferSchema.safeParse(await res.json());
      return parsed.success ? parsed.data : null;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }

  /** The hashes (hex) of `chunks` the cache lacks for this caller's push of `narHash`. */
  async missingChunks(cache: string, narHash: string, chunks: string[]): Promise<string[]> {
    const res = await this.request(
      "POST",
      `${CHUNK_UPLOAD_PATH}/${cache}/missing`,
      { nar_hash: narHash, chunks },
      "transient",
    );
    const body = (await res.json()) as { missing?: unknown };
    if (!Array.isArray(body.missing)) throw new Error("missing chunks: malformed response");
    return body.missing as string[];
  }

  /**
   * Uploads chunks in one request; resolves once the server holds them durably. Retrying is safe:
   * a chunk the session already holds is stored once.
   */
  async uploadChunks(cache: string, narHash: string, chunks: Uint8Array[]): Promise<void> {
    const size = chunks.reduce((s, c) => s + CHUNK_FRAME_HEADER_BYTES + c.length, 0);
    const body = Buffer.allocUnsafe(size);
    let at = 0;
    for (const c of chunks) {
      body.writeUInt32BE(c.length, at);
      body.set(c, at + CHUNK_FRAME_HEADER_BYTES);
      at += CHUNK_FRAME_HEADER_BYTES + c.length;
    }
    const res = await this.request(
      "PUT",
      `${CHUNK_UPLOAD_PATH}/${cache}/chunks?nar_hash=${narHash}`,
      body,
      "transient",
    );
    const ack = (await res.json()) as { received?: unknown };
    if (!Array.isArray(ack.received) || ack.received.length !== chunks.length) {
      throw new Error("chunk upload: the server acknowledged a different number of chunks");
    }
  }

  /**
   * Commits a NAR from its ordered chunk hashes. Returns the upload result, or the hashes the
   * server still needs (409 MissingChunks).
   */
  async commitChunkedNar(
    info: UploadPathNarInfo,
    chunks: string[],
  ): Promise<{ result: UploadPathResult } | { missing: string[] }> {
    try {
      const res = await this.request(
        "POST",
        `${CHUNK_UPLOAD_PATH}/${info.cache}/commit`,
        { nar_info: info, chunks },
        "transient",
      );
      return { result: parseUploadResult(await res.text()) };
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.body?.error === "MissingChunks") {
        const missing = (JSON.parse(e.text) as { missing?: unknown }).missing;
        if (Array.isArray(missing)) return { missing: missing as string[] };
      }
      throw e;
    }
  }

  /**
   * Streams one NAR to `PUT /_api/v1/upload-path`. `openNar` is called once per attempt, so a retry
   * re-runs the dump instead of buffering it. `onProgress` gets the bytes sent in the current attempt.
   */
  async uploadPath(
    info: UploadPathNarInfo,
    openNar: () => NarStream,
    options: { forcePreamble?: boolean; onProgress?: (sent: number) => void } = {},
  ): Promise<UploadPathResult> {
    const framing = frameUpload(info, options.forcePreamble ?? false);
    const url = new URL("_api/v1/upload-path", this.endpoint);
    return withRetry(
      async () => {
        const nar = openNar();
        const body = countingBody(framing.preamble, nar.body, options.onProgress);
        let res: Awaited<ReturnType<PutStream>>;
        try {
          res = await this.putStream(
            url,
            { ...this.baseHeaders(), ...framing.headers, "content-type": "application/octet-stream" },
            body,
          );
        } catch (e) {
          nar.cancel();
          if (e instanceof BodyError) throw e.cause;
          throw this.classify(e, "transient");
        }
        if (res.status < 200 || res.status > 299) {
          nar.cancel();
          const retryAfter = res.headers["retry-after"];
          throw this.errorFrom(
            res.status,
            res.text,
            typeof retryAfter === "string" ? retryAfter : null,
            "transient",
          );
        }
        const text = res.text;
        return parseUploadResult(text);
      },
      this.policy,
      this.retryEnv,
      (e, attempt, delay) => this.options.onRetry?.(`upload of ${info.store_path}`, e, attempt, delay),
    );
  }

  private baseHeaders(): Record<string, string> {
    const headers: Record<string, string> = { "user-agent": this.options.userAgent };
    if (this.hasToken) headers.authorization = `bearer ${this.options.token}`;
    return headers;
  }

  private async request(method: string, path: string, json: unknown, mode: RetryMode): Promise<Response> {
    const url = new URL(path, this.endpoint);
    return withRetry(
      async () => {
        let res: Response;
        try {
          const headers = this.baseHeaders();
          const bytes = json instanceof Uint8Array;
          if (json !== undefined)
            headers["content-type"] = bytes ? "application/octet-stream" : "application/json";
          res = await this.fetchImpl(url, {
            method,
            headers,
            body: json === undefined ? undefined : bytes ? json : JSON.stringify(json),
          });
        } catch (e) {
          throw this.classify(e, mode);
        }
        if (!res.ok) throw await this.responseError(res, mode);
        return res;
      },
      this.policy,
      this.retryEnv,
      (e, attempt, delay) => this.options.onRetry?.(`${method} ${url.pathname}`, e, attempt, delay),
    );
  }

  private classify(e: unknown, mode: RetryMode): unknown {
    const retryable = mode === "transient" ? isNetworkError(e) : isConnectError(e);
    if (retryable) return new TransientError(new NetworkError(e));
    return isNetworkError(e) ? new NetworkError(e) : e;
  }

  private async responseError(res: Response, mode: RetryMode): Promise<unknown> {
    const text = await res.text().catch(() => "");
    return this.errorFrom(res.status, text, res.headers.get("retry-after"), mode);
  }

  private errorFrom(status: number, text: string, retryAfter: string | null, mode: RetryMode): unknown {
    let body: ErrorBody | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isErrorBody(parsed)) body = parsed;
    } catch {
      // non-JSON error bodies (proxies, framework errors) are reported verbatim
    }
    const error = new ApiError(status, body, text);
    if (mode === "transient" && isRetryableStatus(status)) {
      return new TransientError(error, parseRetryAfter(retryAfter, this.now()));
    }
    return error;
  }
}

/** A connection-level failure, reworded from undici's bare "fetch failed". */
export class NetworkError extends Error {
  readonly original: unknown;

  constructor(original: unknown) {
    const cause = (original as { cause?: { code?: string; message?: string } }).cause;
    super(
      cause?.message
        ? `connection failed: ${cause.message}`
        : `connection failed: ${(original as Error).message}`,
    );
    this.original = original;
  }
}

async function* countingBody(
  preamble: Uint8Array,
  nar: AsyncIterable<Uint8Array>,
  onProgress?: (sent: number) => void,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  if (preamble.length > 0) yield preamble;
  for await (const chunk of nar) {
    yield chunk;
    sent += chunk.length;
    onProgress?.(sent);
  }
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/** Checks the fields the client prints, so a foreign 200 body fails loudly instead of printing NaN. */
export function parseCacheStats(v: unknown): CacheStats {
  const s = v as Partial<CacheStats> | null;
  const gc = s?.last_gc;
  const gcOk =
    gc === null ||
    (typeof gc === "object" &&
      gc !== undefined &&
      isStr(gc.started_at) &&
      isStr(gc.finished_at) &&
      isNum(gc.objects) &&
      isNum(gc.nars) &&
      isNum(gc.chunks) &&
      isNum(gc.bytes));
  if (
    !s ||
    !isNum(s.objects) ||
    !isNum(s.nar_bytes) ||
    !isNum(s.chunks) ||
    !isNum(s.stored_bytes) ||
    !isNum(s.pins) ||
    typeof s.closure_retention !== "boolean" ||
    !gcOk
  ) {
    throw new Error("stats: malformed response");
  }
  return s as CacheStats;
}

export function parsePin(v: unknown): Pin {
  const p = v as Partial<Pin> | null;
  if (
    !p ||
    !isStr(p.name) ||
    !Array.isArray(p.store_paths) ||
    !p.store_paths.every(isStr) ||
    !(p.expires_at === null || isStr(p.expires_at)) ||
    !isStr(p.created_at) ||
    !isStr(p.updated_at) ||
    !(p.created_by === null || isStr(p.created_by))
  ) {
    throw new Error("pin: malformed response");
  }
  return p as Pin;
}

/** attic's client tolerates unknown kinds (treated as Uploaded) and even a non-JSON 2xx body. */
export function parseUploadResult(text: string): UploadPathResult {
  try {
    const v = JSON.parse(text) as Partial<UploadPathResult>;
    const kind = v.kind === "Deduplicated" ? "Deduplicated" : "Uploaded";
    const result: UploadPathResult = {
      kind,
      frac_deduplicated: typeof v.frac_deduplicated === "number" ? v.frac_deduplicated : null,
    };
    if (typeof v.file_size === "number") result.file_size = v.file_size;
    return result;
  } catch {
    return { kind: "Uploaded", frac_deduplicated: null };
  }
}
