/**
 * Recursively freezes plain JSON-like data in place. Verified tokens are cached and shared between
 * concurrent requests, so nothing a handler does may alter one.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
