/**
 * The in-memory revocation list every replica checks after verifying a request's token. It holds
 * the jtis of revoked, unexpired tokens and the subjects revoked as a whole (with the time), and is
 * reloaded from the database every `intervalMs` (default 5 s), so a revocation made on one replica
 * reaches all of them within one interval while requests never wait on a query. Revocations made
 * through this process apply at once.
 *
 * A subject revocation covers every token of that subject issued at or before it, including tokens
 * without a jti (atticadm's); "issued" is the later of `iat` and `nbf` in whole seconds, so a token
 * minted within the same second as the revocation is revoked as well, and one without either claim
 * always is. If reloading fails the last list stays in force and the failure is logged.
 */
import { type Db, loadRevocations, type RevocationSnapshot } from "@garret/db";
import type { AtticToken } from "@garret/token";
import type { Logger } from "../log.ts";

export interface RevocationList {
  isRevoked(token: AtticToken): boolean;
  /** Reloads from the database now (also what the timer does). */
  refresh(): Promise<void>;
  /** Applies a revocation made by this process without waiting for the next reload. */
  noteJti(jti: string): void;
  noteSubject(sub: string, revokedAtSeconds: number): void;
  close(): void;
}

export interface RevocationListOptions {
  intervalMs?: number;
}

export const DEFAULT_REVOCATION_REFRESH_MS = 5000;

export function createRevocationList(db: Db, log: Logger, opts: RevocationListOptions = {}): RevocationList {
  const intervalMs = opts.intervalMs ?? DEFAULT_REVOCATION_REFRESH_MS;
  let jtis = new Set<string>();
  let subjects = new Map<string, number>();
  // Local revocations newer than the last reload must survive it (the reload may have started first).
  let pendingJtis = new Set<string>();
  let pendingSubjects = new Map<string, number>();
  let failing = false;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const apply = (
    snapshot: RevocationSnapshot,
    localJtis: Set<string>,
    localSubjects: Map<string, number>,
  ) => {
    const nextJtis = new Set(snapshot.jtis);
    const nextSubjects = new Map(snapshot.subjects.map((s) => [s.sub, Math.floor(s.revokedAt)]));
    // Both the notes taken before this reload and those taken while it ran.
    for (const notes of [localJtis, pendingJtis]) for (const jti of notes) nextJtis.add(jti);
    for (const notes of [localSubjects, pendingSubjects]) {
      for (const [sub, at] of notes) nextSubjects.set(sub, Math.max(at, nextSubjects.get(sub) ?? 0));
    }
    jtis = nextJtis;
    subjects = nextSubjects;
  };

  const load = async () => {
    const localJtis = pendingJtis;
    const localSubjects = pendingSubjects;
    pendingJtis = new Set();
    pendingSubjects = new Map();
    try {
      apply(await loadRevocations(db), localJtis, localSubjects);
      if (failing) log.info("revocation list reloaded again");
      failing = false;
    } catch (err) {
      for (const jti of localJtis) pendingJtis.add(jti);
      for (const [sub, at] of localSubjects) pendingSubjects.set(sub, at);
      if (!failing) log.warn("cannot reload the token revocation list; keeping the last one", { err });
      failing = true;
    }
  };

  const refresh = (): Promise<void> => {
    running ??= load().finally(() => {
      running = null;
    });
    return running;
  };

  const schedule = () => {
    if (closed || intervalMs <= 0) return;
    timer = setTimeout(() => {
      void refresh().then(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();

  return {
    isRevoked(token) {
      if (token.jti !== undefined && jtis.has(token.jti)) return true;
      if (token.sub === undefined) return false;
      const revokedAt = subjects.get(token.sub);
      if (revokedAt === undefined) return false;
      return issuedAt(token) <= revokedAt;
    },
    refresh,
    noteJti(jti) {
      jtis.add(jti);
      pendingJtis.add(jti);
    },
    noteSubject(sub, at) {
      const seconds = Math.floor(at);
      subjects.set(sub, Math.max(seconds, subjects.get(sub) ?? 0));
      pendingSubjects.set(sub, subjects.get(sub) ?? seconds);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** The later of iat and nbf; -Infinity when the token has neither (then any revocation covers it). */
function issuedAt(token: AtticToken): number {
  const times = [token.claims.iat, token.claims.nbf].filter(
    (v): v is number => typeof v === "number" && Number.isFinite(v),
  );
  return times.length === 0 ? Number.NEGATIVE_INFINITY : Math.trunc(Math.max(...times));
}
