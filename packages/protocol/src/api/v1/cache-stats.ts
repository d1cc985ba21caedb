/**
 * garret extension: `GET /_api/v1/caches/{cache}/stats` (needs `r`).
 *
 *   {"objects":1523,"nar_bytes":2147483648,"chunks":9120,"stored_bytes":612368384,"pins":2,
 *    "closure_retention":true,
 *    "last_gc":{"started_at":"2026-11-21T10:00:00.000Z","finished_at":"2026-11-21T10:00:01.250Z",
 *               "objects":12,"nars":10,"chunks":80,"bytes":5242880}}
 *
 * `stored_bytes` is what the chunks the cache's NARs use occupy in storage (compressed, each chunk
 * counted once however many of the cache's NARs share it; chunks shared with other caches count in
 * each). `last_gc` is the last finished collection on the server (GC is server-wide), or null.
 */
export interface CacheStats {
  objects: number;
  nar_bytes: number;
  chunks: number;
  stored_bytes: number;
  pins: number;
  closure_retention: boolean;
  last_gc: {
    started_at: string;
    finished_at: string;
    objects: number;
    nars: number;
    chunks: number;
    bytes: number;
  } | null;
}
