/** Types of bundle.js (plain JavaScript: the launcher runs it before any TypeScript). */
export interface Manifest {
  version: number;
  checkout: string;
  entry: string;
  inputs: Array<[string, number, number]>;
}
export declare const CHECKOUT: string;
export declare const BUNDLE_DIR: string;
export declare function manifestPath(name: string): string;
export declare function manifestOf(entry: string, files: Iterable<string>): Manifest;
export declare function currentBundle(name: string, env?: NodeJS.ProcessEnv): string | null;
