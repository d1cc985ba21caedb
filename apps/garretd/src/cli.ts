/** The `garretd` process: runs `main` with the real argv and environment and exits with its code. */
import { helpOrVersion, parseGarretdArgs } from "./config/args.ts";

const argv = process.argv.slice(2);

/** `--help` and `--version`, answered before the server's code loads; null for anything else. */
function quickAnswer(): string | null {
  try {
    return helpOrVersion(parseGarretdArgs(argv));
  } catch {
    // main reports the mistake.
    return null;
  }
}

const answer = quickAnswer();
if (answer !== null) {
  process.stdout.write(answer);
  process.exit(0);
}

const { restrictUmask } = await import("./ops/private-dirs.ts");
restrictUmask();

// Before main.ts and everything it loads: a first start's key is generated meanwhile.
const { firstStartKeyAhead } = await import("./config/first-start-key.ts");
const firstStartKey = firstStartKeyAhead(argv, process.env);
const [{ main }, { listenFailureMessage }] = await Promise.all([
  import("./main.ts"),
  import("./ops/listen-check.ts"),
]);

main(argv, process.env, { firstStartKey }).then(
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
