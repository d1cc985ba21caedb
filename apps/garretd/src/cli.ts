/** The `garretd` process: runs `main` with the real argv and environment and exits with its code. */
import { main } from "./main.ts";
import { listenFailureMessage } from "./ops/listen-check.ts";
import { restrictUmask } from "./ops/private-dirs.ts";

restrictUmask();

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const listenFailure = listenFailureMessage(err);
    if (listenFailure) {
      process.stderr.write(`error: ${listenFailure}\n`);
      process.exit(1);
    }
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
