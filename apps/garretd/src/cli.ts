/** The `garretd` process: runs `main` with the real argv and environment and exits with its code. */
import { firstStartKeyAhead } from "./config/first-start-key.ts";
import { listenFailureMessage } from "./ops/listen-check.ts";
import { restrictUmask } from "./ops/private-dirs.ts";

restrictUmask();

// Before main.ts and everything it loads: a first start's key is generated meanwhile.
const firstStartKey = firstStartKeyAhead(process.argv.slice(2), process.env);
const { main } = await import("./main.ts");

main(process.argv.slice(2), process.env, { firstStartKey }).then(
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
