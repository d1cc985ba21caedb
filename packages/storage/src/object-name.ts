/**
 * Validation of object names (storage keys). The server names objects `<uuid>.chunk`; anything
 * that could escape the storage root or collide with the backend's own files is refused: empty
 * names, `/`, `\`, `..`, NUL, and a leading `.` (temporary files in the local layout start with
 * one). Names need two characters because the local layout nests by the first one and two.
 */
import { StorageError } from "./storage-error.ts";

export function assertObjectName(op: string, name: string): void {
  const problem = objectNameProblem(name);
  if (problem !== null) throw new StorageError(op, name, `invalid object name: ${problem}`);
}

/** Why `name` is not a valid object name, or null if it is. */
export function objectNameProblem(name: string): string | null {
  if (name.length < 2) return "shorter than 2 characters";
  if (name.length > 255) return "longer than 255 characters";
  if (name.includes("\0")) return "contains NUL";
  if (name.includes("/") || name.includes("\\")) return "contains a path separator";
  if (name.includes("..")) return "contains '..'";
  if (name.startsWith(".")) return "starts with '.'";
  return null;
}
