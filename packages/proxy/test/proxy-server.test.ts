import assert from 'node:assert/strict';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { RejectedError, silentLogger } from '@blockwal/core';
import { proxyClient, pushWlog, startProxyServer, type ProxyServer } from '@blockwal/proxy';
import { scratchDir } from '../../../test/support/scratch.js';
import { makeTestPki } from '../../../test/support/tls.js';
import { WlogMaker } from '../../../test/support/proxy-wlogs.js';
import { testProxyConfig } from '../../../test/support/proxy-config.js';

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('proxy: server', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof scratchDir>;
  let proxy: ProxyServer | null = null;

  beforeEach(() => {
    tmp = scratchDir('blockwal-proxy-');
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = null;
    tmp.cleanup();
  });

  it('answers grpc.health.v1 and serves its metrics over HTTP', async () => {
    proxy = await startProxyServer(testProxyConfig(tmp.dir, [{ name: 'a0', address: `unix:${tmp.file('none.sock')}` }], { metricsListen: '127.0.0.1:0' }), { logger: silentLogger() });
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const health = new Health(proxy.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { check: (r: unknown, cb: (e: unknown, r: { status: string | number }) => void) => void };
    const st = await new Promise<{ status: string | number }>((resolve, reject) => health.check({ service: 'blockwal.v1.ProxyService' }, (e, r) => (e ? reject(e) : resolve(r))));
    assert.ok(st.status === 'SERVING' || st.status === 1);
    health.close();
    const m = new WlogMaker('v');
    const client = proxyClient(proxy.address);
    await pushWlog(client, m.make(tmp.file('w.wlog')), tmp.file('w.wlog'));
    client.close();
    const text = await get(`http://${proxy.metricsAddress}/metrics`);
    assert.match(text, /blockwal_proxy_received_wlogs_total\{volume="v",server="p0"\} 1/);
    assert.match(text, /blockwal_proxy_spool_bytes\{volume="v",archive="a0",server="p0"\} [1-9]/);
  });

  it('speaks mutual TLS when configured: a client of the CA pushes, a stranger is refused', async () => {
    const pki = makeTestPki(tmp.dir);
    const cfg = { ...testProxyConfig(tmp.dir, [{ name: 'a0', address: '127.0.0.1:1' }], { listen: '127.0.0.1:0' }), tls: pki.node };
    proxy = await startProxyServer(cfg, { logger: silentLogger() });
    const m = new WlogMaker('v');
    const f = tmp.file('w.wlog');
    const h = m.make(f);
    const good = proxyClient(proxy.address.replace('127.0.0.1', 'localhost'), pki.node);
    const r = await pushWlog(good, h, f);
    assert.ok(r.wdiffName.endsWith('.wdiff'));
    good.close();
    const stranger = proxyClient(proxy.address.replace('127.0.0.1', 'localhost'), { ...pki.stranger, caFile: pki.caFile });
    const e = await pushWlog(stranger, h, f, { deadline: Date.now() + 3000 }).catch((err: unknown) => err);
    assert.ok(e instanceof RejectedError);
    assert.equal(e.reason, 'stopped');
    stranger.close();
  });
});
