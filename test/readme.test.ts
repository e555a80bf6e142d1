// The README is the contract with users: its commands and its Node example must be true.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { makeTestPki, NO_OPENSSL } from './helpers/certs.js';
import { DAEMON_MAIN, REPO, startDaemon } from './helpers/daemon.js';
import { etcdSkipReason, startEtcd } from './helpers/etcd.js';

const run = promisify(execFile);
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

describe('README', () => {
  it('should give the Quick start commands exactly', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepare).toBeDefined();
    expect(pkg.scripts.start).toContain('packages/accelerator/dist/main.js');
    expect(readFileSync(join(REPO, '.ci/run'), 'utf8')).toMatch(/npm test/);
  });

  it('should show the example of examples/quickstart.mjs, and it should run as written', async () => {
    const block = /## Use it from Node[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const example = join(REPO, 'examples/quickstart.mjs');
    expect(readFileSync(example, 'utf8')).toBe(block);
    const daemon = await startDaemon();
    try {
      const { stdout } = await run(process.execPath, [example], { cwd: REPO, env: { ...process.env, EAIS_ENDPOINT: daemon.endpoint }, timeout: 60_000 });
      expect(stdout).toMatch(/^loaded ocr-rec on ort\/cpu\noutput dims \[1,40,6625\], first scores \d\.\d{5},\d\.\d{5},\d\.\d{5}\n$/);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  it.skipIf(NO_OPENSSL !== undefined)('should show examples/across-hosts.mjs, and it should run as written against a daemon with TLS and keys', async () => {
    const block = /## Run it across hosts[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const example = join(REPO, 'examples/across-hosts.mjs');
    expect(readFileSync(example, 'utf8')).toBe(block);
    const pki = makeTestPki();
    const { stdout: made } = await run(process.execPath, [DAEMON_MAIN, 'key', '--tenant', 'readme', '--json']);
    const { key, entry } = JSON.parse(made) as { key: string; entry: unknown };
    const keys = join(mkdtempSync(join(tmpdir(), 'eais-keys-')), 'keys.json');
    writeFileSync(keys, JSON.stringify({ keys: [entry] }));
    const daemon = await startDaemon({ args: ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--auth-keys', keys] });
    try {
      const { stdout } = await run(process.execPath, [example], {
        cwd: REPO,
        env: { ...process.env, EAIS_ENDPOINT: daemon.endpoint, EAIS_TLS_CA: pki.ca, EAIS_KEY: key },
        timeout: 60_000,
      });
      expect(stdout).toBe('ran ocr-rec on ort/cpu over channel with TLS: output dims [1,40,6625]\n');
      expect(daemon.logs.some((l) => JSON.stringify(l).includes(key))).toBe(false);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  it.skipIf(etcdSkipReason() !== undefined)('should show examples/fleet.mjs, and it should run as written on three daemons on one etcd, binding in the zone it asks for', async () => {
    const block = /## Fleet[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const example = join(REPO, 'examples/fleet.mjs');
    expect(readFileSync(example, 'utf8')).toBe(block);
    const etcd = await startEtcd(1);
    const zones = ['cn-hangzhou-h', 'cn-hangzhou-h', 'cn-hangzhou-i'];
    const daemons = await Promise.all(zones.map((zone, i) => startDaemon({ args: ['--etcd', etcd.endpoints.join(','), '--daemon-id', `d${i}`, '--zone', zone] })));
    try {
      // Asked through the first daemon; the slot in cn-hangzhou-i is the third's.
      const endpoints = daemons.map((d) => d.endpoint).join(',');
      const { stdout } = await run(process.execPath, [example], { cwd: REPO, env: { ...process.env, EAIS_ENDPOINTS: endpoints }, timeout: 60_000 });
      expect(stdout).toMatch(new RegExp(`^ran ocr-rec on slot eais-[0-9a-f]+ \\(zone cn-hangzhou-i\\) at ${daemons[2]?.endpoint.replace(/\./g, '\\.')}: dims \\[1,40,6625\\]\n$`));
    } finally {
      await Promise.all(daemons.map((d) => d.stop()));
      await etcd.stop();
    }
  });

  it('should list every daemon flag of --help', async () => {
    const { stdout } = await run(process.execPath, [join(REPO, 'packages/accelerator/dist/main.js'), '--help']);
    for (const flag of stdout.match(/--[a-z-]+/g) ?? []) {
      if (flag === '--help' || flag === '--version') continue;
      expect(readme, flag).toContain(`\`${flag}\``);
    }
  });
});
