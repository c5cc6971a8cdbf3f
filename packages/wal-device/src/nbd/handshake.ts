/**
 * The fixed newstyle handshake as a byte-driven state machine with no socket: `feed()` takes what
 * the client sent, appends the server's replies to `out`, and says whether to go on, to close, or
 * to enter transmission with a negotiated session (plus any bytes already received past the
 * final option). The connection does the I/O.
 *
 * States: client flags (4 bytes) → option header (16) → option data (length) → … until
 * NBD_OPT_EXPORT_NAME / a successful NBD_OPT_GO (transmission) or NBD_OPT_ABORT / a violation
 * (close). Option data is bounded: longer options are read and discarded in place (never
 * buffered) and answered NBD_REP_ERR_TOO_BIG (NBD_REP_ERR_UNSUP when the option is unknown);
 * absurd lengths, too many options or a bad magic close the connection.
 *
 * Default export: an empty name selects the provider's only export when it has exactly one;
 * otherwise it is unknown (NBD_REP_ERR_UNKNOWN, or a close for NBD_OPT_EXPORT_NAME).
 */
import type { NbdExport, NbdExportProvider } from './export.js';
import { exportLimits, transmissionFlags, type ExportLimits } from './limits.js';
import {
  BASE_ALLOCATION,
  CLIENT_FLAGS_SIZE,
  decodeString,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeMetaContextReply,
  encodeOptionReply,
  encodeRepServer,
  MAX_STRING_BYTES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_PLATFORM,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  OPTION_HEADER_SIZE,
  parseInfoRequest,
  parseMetaContextRequest,
  parseOptionHeader,
} from './protocol.js';

export interface HandshakeLimits {
  /** Largest option data read into memory (default 16 KiB). */
  maxOptionBytes: number;
  /** Longer option data up to this size is discarded and answered TOO_BIG; beyond it the connection closes (default 1 MiB). */
  maxDiscardOptionBytes: number;
  /** Options per connection before the server gives up on the client (default 1024). */
  maxOptions: number;
  /** Queries in one meta context option (default 64). */
  maxMetaQueries: number;
}

export const DEFAULT_HANDSHAKE_LIMITS: HandshakeLimits = {
  maxOptionBytes: 16 * 1024,
  maxDiscardOptionBytes: 1024 * 1024,
  maxOptions: 1024,
  maxMetaQueries: 64,
};

/** The metadata context id of base:allocation when selected. */
export const BASE_ALLOCATION_ID = 1;

/** What option haggling settled for the transmission phase. */
export interface Session {
  export: NbdExport;
  limits: ExportLimits;
  transmissionFlags: number;
  structured: boolean;
  /** BASE_ALLOCATION_ID when selected for this export, else 0. */
  metaContextId: number;
}

export type HandshakeResult =
  | { kind: 'more' }
  | { kind: 'close'; reason: string; /** true for a client's NBD_OPT_ABORT */ graceful: boolean }
  | { kind: 'transmission'; session: Session; rest: Buffer };

const MORE: HandshakeResult = { kind: 'more' };

const KNOWN_OPTIONS = new Set([
  NBD_OPT_EXPORT_NAME, NBD_OPT_ABORT, NBD_OPT_LIST, NBD_OPT_STARTTLS, NBD_OPT_INFO, NBD_OPT_GO,
  NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
]);

export interface HandshakeDeps {
  provider: NbdExportProvider;
  limits?: Partial<HandshakeLimits>;
  /** True once the server is shutting down: further options get NBD_REP_ERR_SHUTDOWN. */
  shuttingDown?: () => boolean;
  /** Called with provider errors and export misconfigurations (the client only sees an error reply). */
  onInternalError?: (err: unknown, what: string) => void;
}

export class Handshake {
  private readonly lim: HandshakeLimits;
  private pending: Buffer = Buffer.alloc(0);
  private state: 'flags' | 'header' | 'data' | 'skip' = 'flags';
  private option = 0;
  private optionLength = 0;
  private skipLeft = 0;
  private optionCount = 0;
  private noZeroes = false;
  private structured = false;
  private metaExportName: string | undefined;
  private metaContextId = 0;

  constructor(private readonly deps: HandshakeDeps) {
    this.lim = { ...DEFAULT_HANDSHAKE_LIMITS, ...deps.limits };
  }

  /** The first bytes the server sends. */
  greeting(): Buffer {
    return encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  }

  feed(chunk: Buffer, out: Buffer[]): HandshakeResult {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.state === 'skip') {
        const k = Math.min(this.skipLeft, buf.length);
        this.skipLeft -= k;
        buf = buf.subarray(k);
        if (this.skipLeft > 0) break;
        this.state = 'header';
        const known = KNOWN_OPTIONS.has(this.option);
        out.push(this.errorReply(this.option, known ? NBD_REP_ERR_TOO_BIG : NBD_REP_ERR_UNSUP, known ? 'option data too large' : 'unknown option'));
        continue;
      }
      if (this.state === 'flags') {
        if (buf.length < CLIENT_FLAGS_SIZE) break;
        const flags = buf.readUInt32BE(0);
        buf = buf.subarray(CLIENT_FLAGS_SIZE);
        if ((flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0) {
          return this.close(`unknown client flags 0x${flags.toString(16)}`);
        }
        // A client without C_FIXED_NEWSTYLE is served the same way (it will only send EXPORT_NAME).
        this.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
        this.state = 'header';
        continue;
      }
      if (this.state === 'header') {
        if (buf.length < OPTION_HEADER_SIZE) break;
        const h = parseOptionHeader(buf, 0);
        buf = buf.subarray(OPTION_HEADER_SIZE);
        if (!h.magicOk) return this.close('bad option magic');
        if (++this.optionCount > this.lim.maxOptions) return this.close('too many options');
        this.option = h.option;
        this.optionLength = h.length;
        if (h.option === NBD_OPT_EXPORT_NAME && h.length > MAX_STRING_BYTES) return this.close('export name too long');
        if (h.length > this.lim.maxOptionBytes) {
          if (h.length > this.lim.maxDiscardOptionBytes) return this.close(`option ${h.option} data of ${h.length} bytes`);
          this.state = 'skip';
          this.skipLeft = h.length;
          continue;
        }
        this.state = 'data';
        continue;
      }
      // state 'data'
      if (buf.length < this.optionLength) break;
      const data = buf.subarray(0, this.optionLength);
      buf = buf.subarray(this.optionLength);
      this.state = 'header';
      const r = this.handleOption(this.option, data, out);
      if (r.kind === 'close') return r;
      if (r.kind === 'transmission') return { kind: 'transmission', session: r.session, rest: Buffer.from(buf) };
    }
    // Keep only the unread bytes (a copy, so a large chunk is not retained).
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return MORE;
  }

  private close(reason: string, graceful = false): HandshakeResult {
    return { kind: 'close', reason, graceful };
  }

  private errorReply(option: number, type: number, message: string): Buffer {
    return encodeOptionReply(option, type, Buffer.from(message, 'utf8'));
  }

  private handleOption(option: number, data: Buffer, out: Buffer[]): HandshakeResult | { kind: 'transmission'; session: Session } {
    if (this.deps.shuttingDown?.() && option !== NBD_OPT_ABORT) {
      if (option === NBD_OPT_EXPORT_NAME) return this.close('server shutting down');
      out.push(this.errorReply(option, NBD_REP_ERR_SHUTDOWN, 'server is shutting down'));
      return MORE;
    }
    switch (option) {
      case NBD_OPT_EXPORT_NAME: return this.optExportName(data, out);
      case NBD_OPT_ABORT:
        out.push(encodeOptionReply(option, NBD_REP_ACK));
        return this.close('client sent NBD_OPT_ABORT', true);
      case NBD_OPT_LIST: return this.optList(data, out);
      case NBD_OPT_STARTTLS:
        out.push(this.errorReply(option, NBD_REP_ERR_UNSUP, 'TLS is not supported by this server'));
        return MORE;
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        return this.optInfoGo(option, data, out);
      case NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) out.push(this.errorReply(option, NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data'));
        else {
          this.structured = true;
          out.push(encodeOptionReply(option, NBD_REP_ACK));
        }
        return MORE;
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT:
        return this.optMetaContext(option, data, out);
      default:
        out.push(this.errorReply(option, NBD_REP_ERR_UNSUP, 'unknown option'));
        return MORE;
    }
  }

  private resolve(name: string): NbdExport | undefined {
    try {
      if (name === '') {
        const names = this.deps.provider.list();
        return names.length === 1 ? this.deps.provider.get(names[0]!) : undefined;
      }
      return this.deps.provider.get(name);
    } catch (err) {
      this.deps.onInternalError?.(err, 'export provider failed');
      return undefined;
    }
  }

  /** Limits of an export, or undefined (reported) when the export is misconfigured. */
  private limitsOf(exp: NbdExport): ExportLimits | undefined {
    try {
      return exportLimits(exp);
    } catch (err) {
      this.deps.onInternalError?.(err, 'export cannot be served');
      return undefined;
    }
  }

  private session(exp: NbdExport, limits: ExportLimits): Session {
    const meta = this.metaExportName === exp.name ? this.metaContextId : 0;
    return { export: exp, limits, transmissionFlags: transmissionFlags(exp, this.structured), structured: this.structured, metaContextId: meta };
  }

  private optExportName(data: Buffer, out: Buffer[]): HandshakeResult | { kind: 'transmission'; session: Session } {
    const name = decodeString(data, 0, data.length);
    if (name === undefined) return this.close('invalid export name');
    const exp = this.resolve(name);
    if (!exp) return this.close(`unknown export '${name}'`);
    const limits = this.limitsOf(exp);
    if (!limits) return this.close(`export '${name}' cannot be served`);
    const session = this.session(exp, limits);
    out.push(encodeExportNameReply(exp.size, session.transmissionFlags, this.noZeroes));
    return { kind: 'transmission', session };
  }

  private optList(data: Buffer, out: Buffer[]): HandshakeResult {
    if (data.length !== 0) {
      out.push(this.errorReply(NBD_OPT_LIST, NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data'));
      return MORE;
    }
    let names: string[];
    try {
      names = this.deps.provider.list();
    } catch (err) {
      this.deps.onInternalError?.(err, 'export provider failed');
      out.push(this.errorReply(NBD_OPT_LIST, NBD_REP_ERR_PLATFORM, 'cannot list exports'));
      return MORE;
    }
    for (const name of names) {
      const exp = this.resolve(name);
      out.push(encodeOptionReply(NBD_OPT_LIST, NBD_REP_SERVER, encodeRepServer(name, exp?.description)));
    }
    out.push(encodeOptionReply(NBD_OPT_LIST, NBD_REP_ACK));
    return MORE;
  }

  private optInfoGo(option: number, data: Buffer, out: Buffer[]): HandshakeResult | { kind: 'transmission'; session: Session } {
    const req = parseInfoRequest(data);
    if (!req) {
      out.push(this.errorReply(option, NBD_REP_ERR_INVALID, 'malformed NBD_OPT_INFO/NBD_OPT_GO data'));
      return MORE;
    }
    const exp = this.resolve(req.name);
    if (!exp) {
      out.push(this.errorReply(option, NBD_REP_ERR_UNKNOWN, req.name === '' ? 'no default export' : `unknown export '${req.name}'`));
      return MORE;
    }
    const limits = this.limitsOf(exp);
    if (!limits) {
      out.push(this.errorReply(option, NBD_REP_ERR_UNKNOWN, `export '${req.name}' cannot be served`));
      return MORE;
    }
    const session = this.session(exp, limits);
    // Every info item is always sent: clients ignore what they did not ask for.
    out.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoExport(exp.size, session.transmissionFlags)));
    out.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoString(NBD_INFO_NAME, exp.name)));
    if (exp.description) out.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoString(NBD_INFO_DESCRIPTION, exp.description)));
    out.push(encodeOptionReply(option, NBD_REP_INFO, encodeInfoBlockSize(limits.writeAlignment, limits.preferredBlockSize, limits.maxPayload)));
    out.push(encodeOptionReply(option, NBD_REP_ACK));
    return option === NBD_OPT_GO ? { kind: 'transmission', session } : MORE;
  }

  private optMetaContext(option: number, data: Buffer, out: Buffer[]): HandshakeResult {
    const isSet = option === NBD_OPT_SET_META_CONTEXT;
    if (isSet) {
      // SET replaces the selection even when it fails.
      this.metaExportName = undefined;
      this.metaContextId = 0;
    }
    if (!this.structured) {
      out.push(this.errorReply(option, NBD_REP_ERR_INVALID, 'negotiate structured replies first'));
      return MORE;
    }
    const req = parseMetaContextRequest(data, this.lim.maxMetaQueries);
    if (req === 'too-big') {
      out.push(this.errorReply(option, NBD_REP_ERR_TOO_BIG, 'too many queries'));
      return MORE;
    }
    if (!req) {
      out.push(this.errorReply(option, NBD_REP_ERR_INVALID, 'malformed meta context data'));
      return MORE;
    }
    const exp = this.resolve(req.name);
    if (!exp) {
      out.push(this.errorReply(option, NBD_REP_ERR_UNKNOWN, `unknown export '${req.name}'`));
      return MORE;
    }
    // base:allocation is the only context; every extent is reported as data (status 0).
    // LIST: no query, "base:" or "base:allocation" lists it. SET: only "base:allocation" selects it.
    const match = isSet
      ? req.queries.includes(BASE_ALLOCATION)
      : req.queries.length === 0 || req.queries.some((q) => q === 'base:' || q === BASE_ALLOCATION);
    if (match) out.push(encodeOptionReply(option, NBD_REP_META_CONTEXT, encodeMetaContextReply(isSet ? BASE_ALLOCATION_ID : 0, BASE_ALLOCATION)));
    out.push(encodeOptionReply(option, NBD_REP_ACK));
    if (isSet && match) {
      this.metaExportName = exp.name;
      this.metaContextId = BASE_ALLOCATION_ID;
    }
    return MORE;
  }
}
