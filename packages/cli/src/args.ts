/**
 * Argument parsing for the subcommands (node:util parseArgs, with errors turned into UsageError)
 * and the value syntaxes shared by them: sizes, lsids, gids, compression specs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, parseSize as parseSizeText } from '@blockwal/core';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: Options, usage: string): Parsed {
  try {
    const r = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return r as Parsed;
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}\nusage: ${usage}`);
  }
}

export function positionals(p: Parsed, names: string[], usage: string, opts: { rest?: boolean; min?: number } = {}): string[] {
  const min = opts.min ?? names.length;
  if (p.positionals.length < min || (!opts.rest && p.positionals.length > names.length)) {
    const what = p.positionals.length < min ? `missing ${names.slice(p.positionals.length).join(' ')}` : `unexpected argument ${p.positionals[names.length]}`;
    throw new UsageError(`${what}\nusage: ${usage}`);
  }
  return p.positionals;
}

/**
 * A byte count: decimal or 0x hex, with an optional unit (K M G T = powers of 1024, as are
 * KiB MiB GiB TiB; k m g t and KB MB GB TB = powers of 1000, as in walb-tools).
 */
export function parseSize(text: string, what: string): number {
  const v = parseSizeText(text);
  if (v === undefined) throw new UsageError(`invalid ${what} "${text}": a number of bytes, optionally with K, M, G or T`);
  return v;
}

/** A non-negative integer (lsid, gid, salt…), decimal or 0x hex, up to 2^53 - 1. */
export function parseUint(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text.trim())) throw new UsageError(`invalid ${what} "${text}": a non-negative integer`);
  const v = Number(text.trim());
  if (!Number.isSafeInteger(v) || v > max) throw new UsageError(`invalid ${what} "${text}": at most ${max}`);
  return v;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}
