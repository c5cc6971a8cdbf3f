/**
 * A proxy in a child process, for tests that kill it: `node --import tsx proxy-child.ts CONFIG_JSON`
 * prints "serving <address>" once it listens.
 */
import { createLogger, type ProxyConfig } from '@blockwal/core';
import { startProxyServer } from '@blockwal/proxy';

const cfg = JSON.parse(process.argv[2]!) as ProxyConfig;
const server = await startProxyServer(cfg, { logger: createLogger({ level: 'warn', name: cfg.name }) });
process.stdout.write(`serving ${server.address}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
