// The etcd flags (--etcd, TLS, auth) and their variables; and that a daemon without them never loads etcd3.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { etcdRegistryOptions, parseEtcdFlags } from '../src/fleet/registry-etcd-options.js';

describe('parseEtcdFlags', () => {
  it('should mean the in-memory registry when no etcd is named', () => {
    expect(parseEtcdFlags({}, {})).toBeUndefined();
    expect(parseEtcdFlags({}, { EAIS_ETCD: '' })).toBeUndefined();
  });

  it('should take comma-separated client URLs, from the flag or EAIS_ETCD', () => {
    expect(parseEtcdFlags({ etcd: 'http://h1:2379, http://h2:2379/' }, {})).toMatchObject({ endpoints: ['http://h1:2379', 'http://h2:2379'] });
    expect(parseEtcdFlags({}, { EAIS_ETCD: 'https://10.0.0.1:2379', EAIS_ETCD_CA: '/ca.pem' })).toMatchObject({ endpoints: ['https://10.0.0.1:2379'], caFile: '/ca.pem' });
    expect(parseEtcdFlags({ etcd: 'http://flag:2379' }, { EAIS_ETCD: 'http://env:2379' })?.endpoints).toEqual(['http://flag:2379']);
  });

  it('should refuse URLs that are not http(s)://host:port, quoting them', () => {
    expect(() => parseEtcdFlags({ etcd: 'h1:2379' }, {})).toThrow(/--etcd: "h1:2379"/);
    expect(() => parseEtcdFlags({ etcd: 'http://h1' }, {})).toThrow(/http:\/\/host:port/);
    expect(() => parseEtcdFlags({ etcd: 'http://h1:2379/v3' }, {})).toThrow(/without a path/);
    expect(() => parseEtcdFlags({ etcd: 'http://u:p@h1:2379' }, {})).toThrow(/credentials/);
    expect(() => parseEtcdFlags({ etcd: ' , ' }, {})).toThrow(/names no URL/);
    expect(() => parseEtcdFlags({ etcd: 'http://h1:2379,https://h2:2379' }, {})).toThrow(/mixes http/);
  });

  it('should check that TLS and auth options go with what they need', () => {
    expect(() => parseEtcdFlags({ 'etcd-ca': '/ca.pem' }, {})).toThrow(/--etcd-ca needs --etcd/);
    expect(() => parseEtcdFlags({}, { EAIS_ETCD_USER: 'eais' })).toThrow(/--etcd-user needs --etcd/);
    expect(() => parseEtcdFlags({ etcd: 'http://h1:2379', 'etcd-ca': '/ca.pem' }, {})).toThrow(/need https/);
    expect(() => parseEtcdFlags({ etcd: 'https://h1:2379', 'etcd-cert': '/c.pem' }, {})).toThrow(/go together/);
    expect(() => parseEtcdFlags({ etcd: 'http://h1:2379', 'etcd-user': 'eais' }, {})).toThrow(/--etcd-password/);
    expect(parseEtcdFlags({ etcd: 'http://h1:2379', 'etcd-user': 'eais' }, { EAIS_ETCD_PASSWORD: 'pw' })).toMatchObject({ user: 'eais', password: 'pw' });
  });
});

describe('etcdRegistryOptions', () => {
  it('should read the PEM files, and name the flag of one it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eais-etcd-opts-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    const config = parseEtcdFlags({ etcd: 'https://h1:2379', 'etcd-ca': join(dir, 'ca.pem'), 'etcd-user': 'u', 'etcd-password': 'p' }, {});
    const options = etcdRegistryOptions(config as NonNullable<typeof config>);
    expect(options.tls?.ca?.toString()).toBe('CA');
    expect(options.auth).toEqual({ user: 'u', password: 'p' });
    const missing = parseEtcdFlags({ etcd: 'https://h1:2379', 'etcd-ca': join(dir, 'absent.pem') }, {});
    expect(() => etcdRegistryOptions(missing as NonNullable<typeof missing>)).toThrow(/--etcd-ca: cannot read .*ENOENT/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('etcd3 loading', () => {
  it('should not load etcd3 for the in-memory registry, and load it only when an etcd registry is opened', () => {
    // A fresh process, on the compiled daemon: which modules the CommonJS loader holds.
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).some((p) => p.includes('/node_modules/etcd3/'));
      await import('@eais/accelerator');
      const { createMemoryRegistry } = await import('./packages/accelerator/dist/fleet/registry-memory.js');
      const { openEtcdRegistry } = await import('./packages/accelerator/dist/fleet/registry-etcd.js');
      const memory = createMemoryRegistry();
      await memory.listSlots();
      const before = loaded();
      const etcd = await openEtcdRegistry({ endpoints: ['http://127.0.0.1:1'] });
      console.log(JSON.stringify({ before, after: loaded() }));
      await etcd.close();
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  });
});
