/**
 * HTTP client for upstream binary caches (cache.nixos.org, a `nix copy --to file://` directory
 * behind nginx, another garret). Every call is bounded: a narinfo lookup has one deadline for
 * connect, headers and body; a NAR download has a deadline for its headers and then fails when no
 * byte arrives for `stallMs`. Failures are `UpstreamFailure`s, which callers turn into 404s.
 */
import { MAX_NARINFO_SIZE } from "@garret/nix";

export class UpstreamFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UpstreamFailure";
  }
}

/** `https://host/path` without a trailing slash, so relative names join with one "/". */
export function upstreamBase(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * `GET <base>/<hash>.narinfo`: its text, or null when the upstream answers 404 / 403 / 410 (the
 * path is not there; S3-backed caches answer 403 for a missing key).
 */
export async function fetchNarInfoText(base: string, hash: string, deadline: number): Promise<string | null> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) throw new UpstreamFailure("no time left for this upstream");
  const signal = AbortSignal.timeout(remaining);
  let res: Response;
  try {
    res = await fetch(`${base}/${hash}.narinfo`, { signal, redirect: "follow" });
  } catch (err) {
    throw new UpstreamFailure(`narinfo request failed: ${describe(err)}`, { cause: err });
  }
  if (res.status === 404 || res.status === 403 || res.status === 410) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(`narinfo request answered ${res.status}`);
  }
  try {
    return await readLimited(res, MAX_NARINFO_SIZE);
  } catch (err) {
    throw new UpstreamFailure(`narinfo body failed: ${describe(err)}`, { cause: err });
  }
}

async function readLimited(res: Response, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of res.body ?? []) {
    size += piece.length;
    if (size > limit) throw new UpstreamFailure(`narinfo larger than ${limit} bytes`);
    parts.push(Buffer.from(piece));
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * `GET <url>` of a (compressed) NAR: resolves once the upstream answered 200 within `headerMs`;
 * the body then fails with `UpstreamFailure` if the upstream sends nothing for `stallMs` while it is
 * waited on. `close()` aborts it.
 */
export async function openNar(
  url: string,
  opts: { headerMs: number; stallMs: number },
): Promise<{ body: AsyncGenerator<Uint8Array>; close(): void }> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new UpstreamFailure("NAR request timed out")), opts.headerMs);
  let res: Response;
  try {
    res = await fetch(url, { signal: controller.signal, redirect: "follow" });
  } catch (err) {
    clearTimeout(timer);
    throw new UpstreamFailure(`NAR request failed: ${describe(err)}`, { cause: err });
  }
  clearTimeout(timer);
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamFailure(`NAR request answered ${res.status}`);
  }
  const stream = res.body;
  async function* body(): AsyncGenerator<Uint8Array> {
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => controller.abort(new UpstreamFailure(`NAR download stalled for ${opts.stallMs} ms`)),
        opts.stallMs,
      );
    };
    // Only time spent waiting on the upstream counts: while a piece is with the consumer (hashing,
    // storing, a slow first client) the clock is stopped, or garret's own load would fail the fetch.
    arm();
    try {
      for await (const piece of stream) {
        clearTimeout(timer);
        yield piece;
        arm();
      }
    } catch (err) {
      throw err instanceof UpstreamFailure ? err : new UpstreamFailure(`NAR body failed: ${describe(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    body: body(),
    close: () => {
      clearTimeout(timer);
      controller.abort(new UpstreamFailure("closed"));
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
