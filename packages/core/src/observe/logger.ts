/**
 * Structured logs: JSON lines (pino). Components come from a closed list, identities go in child
 * loggers (`log.child({ volume, gid })`), messages are constant and data goes in fields.
 * Debug tracers by component: BLOCKWAL_TRACE=proxy.spool,archive.apply (or `all`).
 */
import { pino, destination, stdTimeFunctions, type Logger as PinoLogger, type DestinationStream, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

export type Component =
  | 'storage'
  | 'storage.ship'
  | 'storage.snapshot'
  | 'storage.full'
  | 'storage.device'
  | 'proxy'
  | 'proxy.receive'
  | 'proxy.spool'
  | 'proxy.forward'
  | 'archive'
  | 'archive.receive'
  | 'archive.full'
  | 'archive.restore'
  | 'archive.apply'
  | 'grpc'
  | 'metrics'
  | 'cluster'
  | 'cli';

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** The server's name, e.g. "p0". */
  name?: string;
  /** Where lines go (default: stderr). */
  destination?: DestinationStream;
  /** Comma-separated components traced at debug level (default: $BLOCKWAL_TRACE). */
  trace?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base: Record<string, unknown> = { pid: process.pid };
  if (opts.name) base.server = opts.name;
  const dest = opts.destination ?? destination({ fd: 2, sync: false });
  const root = pino({ level, base, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, dest);
  traced.set(root, parseTrace(opts.trace ?? process.env.BLOCKWAL_TRACE));
  return root;
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const traced = new WeakMap<Logger, Set<string>>();

function parseTrace(v: string | undefined): Set<string> {
  return new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/** A child logger for one component; debug when the component is traced. */
export function componentLogger(parent: Logger, component: Component, bindings: Record<string, unknown> = {}): Logger {
  const child = parent.child({ component, ...bindings });
  const t = traced.get(parent) ?? new Set<string>();
  traced.set(child, t);
  if ((t.has('all') || t.has(component) || t.has(component.split('.')[0]!)) && child.levelVal > 20) child.level = 'debug';
  return child;
}
