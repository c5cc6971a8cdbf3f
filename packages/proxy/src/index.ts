/**
 * @blockwal/proxy: receives wlogs from storage agents into durable per-archive wdiff spools and
 * forwards each spool to its archive (merging, with backoff, quota and backpressure).
 * See DESIGN.md for the ordering rules.
 */
export { startProxyServer, type ProxyServer, type ProxyServerOptions } from './server.js';
export { pushWlog, getProxyStatus, proxyClient, type PushWlogOptions, type PushWlogResult, type WlogSource } from './client.js';
export type { WlogPush } from './receive.js';
export type { ProxyStatus, ProxyVolumeStatus, SpoolStatus } from './status.js';
export type { SpoolDiff, SpoolStore } from './store.js';
export type { DiffPusher, DiffPush, PushOutcome } from './archive-push.js';
export { planForward, type ForwardPlan, type PlanLimits } from './forward-plan.js';
export { nextBackoffMs } from './backoff.js';
