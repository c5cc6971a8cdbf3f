/** A throwaway CA with server and client certificates (openssl), for mutual-TLS tests. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestPki {
  caFile: string;
  /** Certificate for 127.0.0.1 / localhost, usable as server and client. */
  node: { certFile: string; keyFile: string; caFile: string };
  /** A certificate from another CA (must be refused). */
  stranger: { certFile: string; keyFile: string; caFile: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

function makeLeaf(dir: string, ca: string, name: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
}

export function makeTestPki(dir: string): TestPki {
  makeCa(dir, 'ca');
  makeLeaf(dir, 'ca', 'node');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'other-ca', 'stranger');
  const f = (n: string) => path.join(dir, n);
  return {
    caFile: f('ca.pem'),
    node: { certFile: f('node.pem'), keyFile: f('node.key'), caFile: f('ca.pem') },
    stranger: { certFile: f('stranger.pem'), keyFile: f('stranger.key'), caFile: f('ca.pem') },
  };
}
