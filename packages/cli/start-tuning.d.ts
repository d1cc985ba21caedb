/** Types of start-tuning.js (plain JavaScript: the launcher runs it before any TypeScript). */
export declare const TUNED_ENV: Record<string, string>;
export declare const TUNED_NODE_FLAGS: string[];
export declare function missingTuning(
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
): { flags: string[]; env: Record<string, string> } | null;
export declare function relaunchTuned(): void;
