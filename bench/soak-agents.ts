// The soak's agent processes (soak-agent.ts) as the parent sees them: spawn, read their lines, stop or kill.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from './processes.js';
import type { SlotSpan } from './soak-binds.js';

const AGENT = fileURLToPath(new URL('./soak-agent.js', import.meta.url));

/** The counters an agent prints (progress and final lines). */
export interface AgentCounts {
  readonly sent: number;
  readonly ok: number;
  readonly failed: Record<string, number>;
  readonly wrongOutputs: number;
  readonly crossAgent: number;
  readonly doubleAnswered: number;
  readonly doubleSettled: number;
  readonly inFlight: number;
  readonly events: Record<string, number>;
}

export interface AgentFinal extends AgentCounts {
  readonly drained?: boolean;
  readonly unsettled: number;
  readonly detachError?: string;
  readonly fatal?: string;
}

export interface SoakAgent {
  readonly instanceId: string;
  readonly ordinal: number;
  readonly transport: string;
  readonly leaseTtlMs: number;
  readonly startedAtMs: number;
  /** Its 'attached' line: slot, transport in use, attempts, retries by reason, waitedMs. */
  attached: Record<string, unknown> | undefined;
  last: AgentCounts | undefined;
  final: AgentFinal | undefined;
  /** Its reconnecting / reconnected / rebound / lost events, in order. */
  readonly events: Record<string, unknown>[];
  /** Its successes per slot, one span per progress second. */
  readonly spans: SlotSpan[];
  readonly stderr: string[];
  /** Set when the parent killed it on purpose. */
  killedAtMs: number | undefined;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  stop(): void;
  kill(): void;
}

export interface AgentSpec {
  readonly endpoint: string;
  readonly ordinal: number;
  readonly transport: string;
  readonly modelPath: string;
  readonly leaseTtlMs: number;
}

/** Spawns one agent (it inherits this process's cores). */
export function spawnAgent(spec: AgentSpec): SoakAgent {
  const instanceId = `soak-agent-${spec.ordinal}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [AGENT, spec.endpoint, instanceId, String(spec.ordinal), spec.transport, spec.modelPath, String(spec.leaseTtlMs)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const agent: SoakAgent = {
    instanceId,
    ordinal: spec.ordinal,
    transport: spec.transport,
    leaseTtlMs: spec.leaseTtlMs,
    startedAtMs: Date.now(),
    attached: undefined,
    last: undefined,
    final: undefined,
    events: [],
    spans: [],
    stderr: [],
    killedAtMs: undefined,
    exit: undefined,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        agent.exit = { code, signal };
        resolve();
      }),
    ),
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.stdin?.write('stop\n');
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  child.stdin?.on('error', () => {});
  createInterface({ input: child.stderr! }).on('line', (line) => {
    agent.stderr.push(line);
    if (agent.stderr.length > 20) agent.stderr.shift();
  });
  onJsonLines(child.stdout!, (line) => {
    if (line.type === 'attached') agent.attached = line;
    else if (line.type === 'event') agent.events.push(line);
    else if (line.type === 'final') agent.final = line as unknown as AgentFinal;
    else if (line.type === 'progress') {
      agent.last = line as unknown as AgentCounts;
      for (const [slot, span] of Object.entries(line.okBySlot as Record<string, [number, number]>)) {
        agent.spans.push({ agent: instanceId, slot, firstMs: span[0], lastMs: span[1] });
      }
    }
  });
  return agent;
}
