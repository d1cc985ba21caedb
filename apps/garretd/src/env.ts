/** Hono's environment for garretd: the per-request variables every middleware and route may read. */
import type { AtticToken } from "@garret/token";
import type { Deps } from "./deps.ts";

export interface RequestState {
  /** Host as the client sent it (or the HTTP/2 authority), used to synthesise endpoints. */
  host: string;
  /** X-Forwarded-Proto was exactly `https`. */
  forwardedHttps: boolean;
}

export interface AppEnv {
  Variables: {
    deps: Deps;
    requestId: string;
    token: AtticToken | null;
    /** `exp` of an authentic but expired token the request carried (it was treated as anonymous). */
    expiredTokenAt?: number;
    request: RequestState;
    /** Set by handlers that serve a public cache, for X-Attic-Cache-Visibility. */
    publicCache: boolean;
    cacheName?: string;
  };
}
