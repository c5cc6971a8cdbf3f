/** The `blockwal` command: parses argv, runs a subcommand, returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write('usage: blockwal <command> ...\n');
    return 0;
  }
  process.stderr.write(`blockwal: unknown command: ${argv[0]}\n`);
  return 1;
}
