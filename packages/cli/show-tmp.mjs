import { main } from '/work/main/packages/cli/src/main.ts';
process.exitCode = await main(process.argv.slice(2));
