/** The version printed by `--version`: the `version` field of the package.json at `url`. */
import { readFileSync } from "node:fs";

export function packageVersion(url: URL): string {
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}
