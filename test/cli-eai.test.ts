// `eais eai` against real daemons: three on one real etcd (describe with owners, pages,
// delete and create sent on to the owner, attach through any daemon onto the owner, then
// infer, describe and detach on that saved bind), and one daemon without etcd.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EAI_COLUMNS, eaisText } from '../packages/agent/src/cli-eai-text.js';
import type { EaiInfo } from '../packages/agent/src/eai.js';
import { CLI_MAIN, startDaemon, type DaemonProcess } from './helpers/daemon.js';
import { etcdSkipReason, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { addSubModel } from './helpers/models.js';
import { waitFor } from './helpers/wait.js';

const SKIP = etcdSkipReason();
const SPEC = 'eais.ei-a6.2xlarge';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a process with `env`. */
const cli =
  (env: () => NodeJS.ProcessEnv) =>
  (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI_MAIN, ...args], { env: env(), timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
      });
    });

/** The EAIs `eais eai describe --json` lists. */
async function listed(eais: ReturnType<typeof cli>, ...args: string[]): Promise<EaiInfo[]> {
  const result = await eais('eai', 'describe', '--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { eais: EaiInfo[] }).eais;
}

/** The tab-separated lines of `eais eai describe` (stdout is no terminal here), split into cells. */
const rows = (stdout: string): string[][] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));

describe.skipIf(SKIP !== undefined)(SKIP === undefined ? 'eais eai: three daemons on one etcd' : `eais eai: three daemons on one etcd ${SKIP}`, () => {
  let etcd: EtcdCluster;
  let daemons: DaemonProcess[] = [];
  /** Each daemon's one slot, by daemon index. */
  let slots: string[] = [];
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const eais = cli(() => env);
  const zones = ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-h'];
  const at = (i: number): string => (daemons[i] as DaemonProcess).endpoint;

  beforeAll(async () => {
    etcd = await startEtcd(1);
    daemons = await Promise.all(
      [0, 1, 2].map((i) => startDaemon({ args: ['--slot', SPEC, '--etcd', etcd.endpoints.join(','), '--daemon-id', `d${i}`, '--zone', zones[i] as string] })),
    );
    dir = mkdtempSync(join(tmpdir(), 'eais-cli-eai-'));
    env = { ...process.env, EAIS_ENDPOINT: at(0), EAIS_BIND_FILE: join(dir, 'bind.json'), EAIS_INSTANCE_ID: 'i-cli-eai' };
    // Each daemon puts its slot in the registry as it starts; wait until every one is listed.
    const all = await waitFor(async () => {
      const available = await listed(eais, '--state', 'Available');
      return available.length === 3 && available;
    }, { what: 'the three slots to be listed Available' });
    slots = [0, 1, 2].map((i) => all.find((e) => e.daemonAddress === at(i))?.eaiId as string);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await etcd?.stop();
  });

  it('should describe every EAI of the fleet with its owner from any daemon, as JSON and as tab-separated lines', async () => {
    for (const endpoint of [at(0), at(1)]) {
      const all = await listed(eais, '--endpoint', endpoint);
      expect(all.map((e) => e.eaiId)).toEqual([...slots].sort());
      for (const [i, id] of slots.entries()) {
        expect(all.find((e) => e.eaiId === id)).toMatchObject({ type: SPEC, zone: zones[i], state: 'Available', billable: true, daemonId: `d${i}`, daemonAddress: at(i) });
      }
    }
    const text = await eais('eai', 'describe', '--endpoint', at(2));
    expect(text.code, text.stderr).toBe(0);
    const lines = rows(text.stdout);
    expect(lines.map((r) => r.length)).toEqual([8, 8, 8]);
    for (const [i, id] of slots.entries()) expect(lines.find((r) => r[0] === id)).toEqual([id, SPEC, 'cn-hangzhou', zones[i], 'Available', 'yes', at(i), '-']);
    // Filters: the zone and the ids.
    expect(rows((await eais('eai', 'describe', '--zone', 'cn-hangzhou-i')).stdout).map((r) => r[0])).toEqual([slots[1]]);
    expect((await listed(eais, slots[2] as string, '--eai-id', 'eais-none')).map((e) => e.eaiId)).toEqual([slots[2]]);
    const bad = await eais('eai', 'describe', '--state', 'Busy');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/state "Busy" is not one of .*\n.*INVALID_ARGUMENT/);
  });

  it('should print one page and the next page token, follow it, and read every page with --all', async () => {
    const sorted = [...slots].sort();
    const first = await eais('eai', 'describe', '--page-size', '2');
    expect(first.code, first.stderr).toBe(0);
    expect(rows(first.stdout).map((r) => r[0])).toEqual(sorted.slice(0, 2));
    const token = /--page-token (\S+)/.exec(first.stderr)?.[1];
    expect(token, first.stderr).toBeDefined();
    const second = await eais('eai', 'describe', '--page-size', '2', '--page-token', token as string);
    expect(rows(second.stdout).map((r) => r[0])).toEqual(sorted.slice(2));
    expect(second.stderr).toBe('');
    const all = await eais('eai', 'describe', '--page-size', '2', '--all', '--json');
    const parsed = JSON.parse(all.stdout) as { eais: EaiInfo[]; nextPageToken?: string; revision: number };
    expect(parsed.eais.map((e) => e.eaiId)).toEqual(sorted);
    expect(parsed.nextPageToken).toBeUndefined();
    expect(parsed.revision).toBeGreaterThan(0);
    expect((await eais('eai', 'describe', '--page-size', '501')).stderr).toMatch(/--page-size must be a whole number from 1 to 500/);
  });

  it('should refuse to delete a bound EAI, release a free one on its owner, and create it again', async () => {
    const id = slots[1] as string;
    const holder = ['--bind-file', join(dir, 'holder.json'), '--instance-id', 'i-holder'];
    const held = await eais('eai', 'attach', id, ...holder);
    expect(held.code, held.stderr).toBe(0);
    // Asked of d0, sent on to d1, the owner, which refuses.
    const inUse = await eais('eai', 'delete', id);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/SLOT_IN_USE/);
    const inUseJson = JSON.parse((await eais('eai', 'delete', id, '--json')).stdout) as { error: { reason: string; slotId: string } };
    expect(inUseJson.error).toMatchObject({ reason: 'SLOT_IN_USE', slotId: id });
    expect((await eais('eai', 'detach', ...holder)).code).toBe(0);

    const deleted = await eais('eai', 'delete', '--eai-id', id, '--json');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(deleted.stdout).eai).toMatchObject({ eaiId: id, state: 'Released', billable: false, daemonId: 'd1', daemonAddress: at(1) });
    await waitFor(async () => (await listed(eais, id))[0]?.state === 'Released', { what: `${id} to be listed Released` });
    expect((await listed(eais, '--state', 'Available')).map((e) => e.eaiId)).not.toContain(id);

    const created = await eais('eai', 'create', '--type', SPEC, '--zone', 'cn-hangzhou-i');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created ${id} (${SPEC}) in cn-hangzhou-i, cn-hangzhou on daemon d1 at ${at(1)}: Available`);
    await waitFor(async () => (await listed(eais, id))[0]?.state === 'Available', { what: `${id} to be listed Available again` });
    const none = await eais('eai', 'create', '--type', SPEC, '--zone', 'cn-hangzhou-i', '--json');
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'NO_ROOM' });
    expect((await eais('eai', 'create', '--zone', 'cn-hangzhou-i')).code).toBe(2);
  });

  it("should attach through one daemon onto another's EAI, then infer, describe and detach on the owner", async () => {
    // d0's slot taken, d2 shares the zone h: the bind goes there.
    const holder = ['--bind-file', join(dir, 'holder0.json'), '--instance-id', 'i-holder0'];
    expect((await eais('eai', 'attach', slots[0] as string, ...holder)).code).toBe(0);
    try {
      const attached = await eais('eai', 'attach', '--endpoint', `127.0.0.1:1,${at(0)}`, '--zone', 'cn-hangzhou-h', '--json');
      expect(attached.code, attached.stderr).toBe(0);
      expect(JSON.parse(attached.stdout)).toMatchObject({ endpoint: at(2), slot: { id: slots[2], state: 'InUse' }, instanceId: 'i-cli-eai' });
      expect(JSON.parse(readFileSync(join(dir, 'bind.json'), 'utf8'))).toMatchObject({ endpoint: at(2), fleet: ['127.0.0.1:1', at(0)] });

      // EAIS_ENDPOINT is d0: the saved bind takes the commands to d2.
      writeFileSync(join(dir, 'model.onnx'), addSubModel());
      writeFileSync(join(dir, 'in.json'), JSON.stringify({ a: { dtype: 'float32', dims: [2], data: [1, 2] }, b: { dtype: 'float32', dims: [2], data: [3, 4] } }));
      const inferred = await eais('infer', join(dir, 'model.onnx'), '--inputs', join(dir, 'in.json'), '--output', 'sum');
      expect(inferred.code, inferred.stderr).toBe(0);
      expect(inferred.stdout).toMatch(new RegExp(`model on ort/cpu \\(slot ${slots[2]}\\)`));
      expect(inferred.stdout).toMatch(/first 4\.00000 6\.00000/);
      const described = await eais('describe');
      expect(described.stdout).toContain(`daemon ${at(2)}`);
      expect(described.stdout).toMatch(new RegExp(`your models on ${slots[2]}:\\n\\s+model\\s+onnx on ort/cpu`));
      expect((await listed(eais, slots[2] as string))[0]).toMatchObject({ instanceId: 'i-cli-eai' });
      expect((await eais('eai', 'attach')).stderr).toMatch(/saved .* already; run eais detach first/);

      const detached = await eais('eai', 'detach');
      expect(detached.code, detached.stderr).toBe(0);
      expect(detached.stdout).toBe(`detached slot ${slots[2]} on ${at(2)}\n`);
      expect(existsSync(join(dir, 'bind.json'))).toBe(false);
      await waitFor(async () => (await listed(eais, slots[2] as string))[0]?.state === 'Available', { what: `${slots[2]} to be listed Available after the detach` });
      expect((await listed(eais, slots[2] as string))[0]?.instanceId).toBeUndefined();
      const again = await eais('eai', 'detach');
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/nothing to detach/);
    } finally {
      await eais('eai', 'detach', ...holder);
    }
  });

  it('should count a saved bind whose lease ran out as detached, and remove it', async () => {
    const ended = ['--bind-file', join(dir, 'ended.json'), '--instance-id', 'i-ended'];
    const attached = await eais('eai', 'attach', slots[1] as string, '--lease', '1s', ...ended, '--json');
    expect(attached.code, attached.stderr).toBe(0);
    await (daemons[1] as DaemonProcess).waitForLog((l) => l.msg === 'detached' && l.instanceId === 'i-ended');
    const detached = await eais('eai', 'detach', ...ended);
    expect(detached.code, detached.stderr).toBe(0);
    expect(existsSync(join(dir, 'ended.json'))).toBe(false);
  });

  it('should explain a missing or unknown eai command with its usage and exit code 2', async () => {
    const missing = await eais('eai');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/eais eai needs a command; the eai commands are describe, create, delete, attach, detach\n\neais eai: /);
    const unknown = await eais('eai', 'launch');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown eai command "launch"[\s\S]*eais eai describe/);
    expect((await eais('eai', 'delete')).stderr).toMatch(/needs an EAI id/);
    expect((await eais('eai', '--help')).stdout).toMatch(/^eais eai: /);
    expect((await eais('describe', '--endpoint', `${at(0)},${at(1)}`)).stderr).toMatch(/eais describe talks to one daemon/);
  });
});

describe('eais eai: one daemon without etcd', () => {
  let daemon: DaemonProcess;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const eais = cli(() => env);

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--slot', SPEC, '--slot', SPEC] });
    dir = mkdtempSync(join(tmpdir(), 'eais-cli-eai-'));
    env = { ...process.env, EAIS_ENDPOINT: daemon.endpoint, EAIS_BIND_FILE: join(dir, 'bind.json'), EAIS_INSTANCE_ID: 'i-cli-eai-single' };
  });

  afterAll(async () => {
    expect(await daemon?.stop()).toBe(0);
  });

  it("should describe the daemon's EAIs, attach to one and detach it", async () => {
    const all = await listed(eais);
    expect(all).toHaveLength(2);
    for (const e of all) expect(e).toMatchObject({ type: SPEC, state: 'Available', daemonAddress: daemon.endpoint });
    const attached = await eais('eai', 'attach');
    expect(attached.code, attached.stderr).toBe(0);
    // Picked through the daemon that owns the slot: no "picked through" note.
    expect(attached.stdout).toMatch(new RegExp(`^attached i-cli-eai-single to slot eais-\\w+ \\(${SPEC.replace(/\./g, '\\.')}\\) on ${daemon.endpoint}\\n`));
    const bound = await waitFor(async () => (await listed(eais)).find((e) => e.instanceId === 'i-cli-eai-single'), { what: 'the bind to be listed' });
    expect((await eais('eai', 'detach')).code).toBe(0);
    await waitFor(async () => (await listed(eais, bound.eaiId))[0]?.state === 'Available', { what: `${bound.eaiId} to be Available after the detach` });
  });

  it('should print a table with a header on a terminal', () => {
    const eai: EaiInfo = {
      eaiId: 'eais-1',
      type: SPEC,
      region: 'cn-hangzhou',
      zone: 'cn-hangzhou-h',
      state: 'InUse',
      billable: true,
      daemonId: 'd0',
      daemonAddress: '10.0.0.1:50051',
      instanceId: 'i-1',
      spec: undefined,
    };
    const table = eaisText([eai, { ...eai, eaiId: 'eais-22', state: 'Available', instanceId: undefined }], true).split('\n');
    expect(table[0]?.split(/\s{2,}/)).toEqual([...EAI_COLUMNS]);
    expect(table[1]).toMatch(/^eais-1 {2,}eais\.ei-a6\.2xlarge {2}cn-hangzhou {2}cn-hangzhou-h {2}InUse {6}yes {7}10\.0\.0\.1:50051 {2}i-1$/);
    expect(table[2]?.endsWith('  -')).toBe(true);
    expect(eaisText([eai], false)).toBe(`eais-1\t${SPEC}\tcn-hangzhou\tcn-hangzhou-h\tInUse\tyes\t10.0.0.1:50051\ti-1\n`);
  });
});
