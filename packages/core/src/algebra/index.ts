/** The snapshot/diff algebra of WalB (walb-formats §7, walb-tools-architecture §2): pure, no I/O. */
export * from './timestamp.js';
export * from './meta-snap.js';
export * from './meta-diff.js';
export * from './meta-state.js';
export * from './meta-lsid-gid.js';
export * from './relation.js';
export * from './merge.js';
export * from './chain.js';
export * from './restorable.js';
