/**
 * The command line of a tool (`npm run doctor -- …` and the others): `--help` / `-h` prints the
 * usage and exits 0 before anything else happens; an option the tool does not know (a typo of
 * `--json`, `--rfc10070`, …) prints the usage and exits 2, rather than being ignored while the
 * tool goes on to talk to the provider with other settings than the ones asked for.
 */
export type CliSpec = {
  /** The usage text, as printed by `--help`. */
  readonly usage: string;
  /** Options without a value. */
  readonly switches: readonly string[];
  /** Options followed by a value (`--grant client_credentials`). */
  readonly valueOptions?: readonly string[];
};

/** Whether the arguments ask for help. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** The first option in `args` that `spec` does not know, or undefined. */
export function unknownOption(args: readonly string[], spec: CliSpec): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (spec.valueOptions?.includes(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-') && !spec.switches.includes(arg)) return arg;
  }
  return undefined;
}

/** Handles `--help` and unknown options for a tool whose arguments are all options. */
export function handleCliArgs(args: readonly string[], spec: CliSpec): void {
  if (wantsHelp(args)) {
    console.log(spec.usage);
    process.exit(0);
  }
  const unknown = unknownOption(args, spec);
  if (unknown !== undefined) {
    console.error(`unknown option "${unknown}"\n\n${spec.usage}`);
    process.exit(2);
  }
}
