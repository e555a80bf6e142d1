// Starts a real etcd (one or three members) from PATH on free loopback ports, for the fleet tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './wait.js';

/** Members are killed this long after start whatever happens (unless told otherwise): a test run never leaves one behind. */
const MAX_LIFETIME_MS = 5 * 60_000;

/** Whether an executable `etcd` is on PATH. */
export function etcdOnPath(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, 'etcd'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Why etcd tests must skip, or undefined when they can run: etcd is on PATH, or CI=true
 * (where .ci/run installs Debian's etcd-server, and a missing etcd must fail, not skip).
 */
export function etcdSkipReason(): string | undefined {
  if (process.env.CI === 'true') return undefined;
  return etcdOnPath() ? undefined : '(skipped: etcd is not on PATH; apt-get install etcd-server, as .ci/run does in CI)';
}

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** The running process; undefined once killed. */
  child: ChildProcess | undefined;
  /** The last lines it wrote to stderr, for a failing test's message. */
  readonly stderr: string[];
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client URLs of every member. */
  readonly endpoints: readonly string[];
  /** Sends `signal` (SIGKILL by default) to one member and resolves once it has exited. */
  kill(memberIndex: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed member again on its data dir and ports; resolves once every running member reports healthy. */
  restart(memberIndex: number): Promise<void>;
  /** The index of the member that leads now (asked over each live member's HTTP gateway), or undefined. */
  leader(): Promise<number | undefined>;
  /** The lease a key hangs on (0 when none), read over a live member's HTTP gateway; undefined when absent. */
  leaseOf(key: string): Promise<string | undefined>;
  /** Revokes a lease, as an operator (or etcd's expiry) would end it. */
  revoke(leaseId: string): Promise<void>;
  /** Kills every member (by PID) and removes the data dirs. */
  stop(): Promise<void>;
}

async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

async function post(url: string, body: unknown): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a member answers /health with a leader in sight. */
async function healthy(member: EtcdMember): Promise<boolean> {
  try {
    const res = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Options of {@link startEtcd}. */
export interface EtcdOptions {
  /** Each member is killed this long after its start whatever happens, ms; default 5 minutes (the bench runs longer). */
  readonly maxLifetimeMs?: number;
}

/**
 * Starts `size` etcd members (1 or 3) as one new cluster, each on two free loopback ports
 * with a temporary data dir, and resolves once every member reports healthy.
 */
export async function startEtcd(size: 1 | 3 = 1, options: EtcdOptions = {}): Promise<EtcdCluster> {
  const maxLifetimeMs = options.maxLifetimeMs ?? MAX_LIFETIME_MS;
  const dataDir = await mkdtemp(join(tmpdir(), 'eais-etcd-'));
  const ports = await freePorts(2 * size);
  const members: EtcdMember[] = Array.from({ length: size }, (_, i) => ({
    name: `m${i}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
    child: undefined,
    stderr: [],
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `eais-test-${process.pid}-${Date.now()}`;
  let startError: Error | undefined;
  const spawnMember = (member: EtcdMember): void => {
    const child = spawn(
      'etcd',
      [
        `--name=${member.name}`,
        `--data-dir=${join(dataDir, member.name)}`,
        `--listen-client-urls=${member.clientUrl}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--listen-peer-urls=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${token}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      member.stderr.push(...chunk.split('\n').filter((l) => l !== ''));
      member.stderr.splice(0, Math.max(0, member.stderr.length - 50));
    });
    child.once('exit', () => {
      if (member.child === child) member.child = undefined;
    });
    // Not on PATH (or not executable): fail the start at once, with why.
    child.once('error', (err) => {
      startError ??= new Error(`cannot start etcd (${member.name}): ${err.message}; apt-get install etcd-server, as .ci/run does`);
      if (member.child === child) member.child = undefined;
    });
    const bound = setTimeout(() => child.kill('SIGKILL'), maxLifetimeMs);
    bound.unref();
    child.once('exit', () => clearTimeout(bound));
    member.child = child;
  };
  for (const member of members) spawnMember(member);
  const kill = async (index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const child = members[index]?.child;
    if (child === undefined) return;
    child.kill(signal);
    await exited(child);
  };
  const waitHealthy = (what: string): Promise<unknown> =>
    waitFor(async () => {
      if (startError !== undefined) throw startError;
      const exited = members.find((m) => m.child === undefined);
      if (exited !== undefined) throw new Error(`etcd member ${exited.name} exited during start`);
      return (await Promise.all(members.map(healthy))).every(Boolean);
    }, { what, timeoutMs: 60_000, intervalMs: 50 });
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    kill,
    async restart(index) {
      const member = members[index];
      if (member === undefined || member.child !== undefined) throw new Error(`etcd member ${index} is running or does not exist`);
      spawnMember(member);
      await waitHealthy(`etcd member ${member.name} to report healthy again`);
    },
    async leader() {
      for (const [index, member] of members.entries()) {
        if (member.child === undefined) continue;
        const status = await post(`${member.clientUrl}/v3/maintenance/status`, {});
        const header = status?.header as { member_id?: string } | undefined;
        if (status !== undefined && header?.member_id !== undefined && status.leader === header.member_id) return index;
      }
      return undefined;
    },
    async leaseOf(key) {
      const member = members.find((m) => m.child !== undefined);
      if (member === undefined) throw new Error('no etcd member is running');
      const res = await post(`${member.clientUrl}/v3/kv/range`, { key: Buffer.from(key).toString('base64') });
      if (res === undefined) throw new Error(`etcd ${member.clientUrl} did not answer a range of ${key}`);
      const kv = (res.kvs as { lease?: string }[] | undefined)?.[0];
      return kv === undefined ? undefined : (kv.lease ?? '0');
    },
    async revoke(leaseId) {
      const member = members.find((m) => m.child !== undefined);
      if (member === undefined) throw new Error('no etcd member is running');
      if ((await post(`${member.clientUrl}/v3/lease/revoke`, { ID: leaseId })) === undefined) throw new Error(`etcd did not revoke lease ${leaseId}`);
    },
    async stop() {
      await Promise.all(members.map((_, i) => kill(i)));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await waitHealthy(`etcd (${size} member${size === 1 ? '' : 's'}) to report healthy`);
  } catch (err) {
    const lines = members.flatMap((m) => m.stderr.slice(-5).map((l) => `${m.name}: ${l}`));
    await cluster.stop();
    throw new Error(`${(err as Error).message}\n${lines.join('\n')}`);
  }
  return cluster;
}
