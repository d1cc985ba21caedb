/** Command-line plumbing shared by garretd, garretadm and garret: option tables, help, suggestions. */

export {
  CliUsageError,
  formatOptionsHelp,
  type OptionSpec,
  type OptionSpecs,
  type OptionValues,
  parseOptions,
} from "./options.ts";
export { closestMatch, didYouMean } from "./suggest.ts";
export { packageVersion } from "./version.ts";
