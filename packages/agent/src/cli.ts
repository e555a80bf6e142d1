#!/usr/bin/env node
// `eais`: the agent's command line — describe, attach, detach, infer, and eai (the fleet's EAIs).

import { EaisError, formatBytes, parseDuration } from '@eais/shared';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AcceleratorImpl } from './accelerator-impl.js';
import { attachAndSave, detachSaved, forgetEndedBind, savedBind } from './cli-bind.js';
import { EAI_HELP, runEai } from './cli-eai.js';
import { outputsJson, outputsText, readFeeds, writeOutputs } from './cli-infer.js';
import { oneEndpoint, OPTIONS, print, security, UsageError, type Values } from './cli-options.js';
import { describe, type Description, type FleetInfo } from './describe.js';
import { needFrom, plan, planText } from './cli-plan.js';
import { interruptible, progressBar } from './cli-progress.js';
import { usageText } from './cli-usage.js';
import { usage } from './usage.js';

const HELP = `eais: use a remote eais accelerator from the command line

Usage:
  eais describe                 the daemon's slots and engines (and your models, when attached)
  eais attach                   bind this host to a slot; the bind is saved for later commands
                                (--json prints the bind token: a secret)
  eais load <model> [--name <n>]  load a model on the saved bind (for any KServe v2 client)
  eais detach                   end the saved bind
  eais usage                    usage and billing meter: your slot when attached, else every slot
  eais plan --vcpu <n> --memory <GiB> [--gpus <n>] [--fp32-tflops <t>] [--fp16-tflops <t>] [--gpu-memory <GB>]
                                GPU instances for a need, against a CPU instance + an EAIS slot
  eais infer <model> --input <name>=<file.npy|file.json> [--input …]
                                run a model (an .onnx file, or a TF.js / SavedModel folder) once;
                                uses the saved bind, or attaches just for this run
  eais eai describe|create|delete|attach|detach
                                the fleet's EAIs (slots) through the EAIS API: list them with their
                                owners, re-open or release one, bind through the fleet (eais eai --help)

Common options:
  --endpoint <addr>             daemon: host[:port], grpc://… or grpcs://… (TLS) (EAIS_ENDPOINT) [127.0.0.1:50051];
                                eais eai takes several (repeated or comma-separated)
  --tls-ca <file>               CA of the daemon's certificate; turns TLS on (EAIS_TLS_CA)
  --tls-cert <file>             client certificate, for an mTLS daemon (EAIS_TLS_CERT)
  --tls-key <file>              its private key (EAIS_TLS_KEY)
  --tls-server-name <name>      name to check the daemon's certificate against
  --key <key>                   operator key, for a daemon with --auth-keys (EAIS_KEY; a secret)
  --json                        machine-readable output on stdout
  --bind-file <path>            where the bind is saved (EAIS_BIND_FILE) [~/.local/state/eais/bind.json]
  -h, --help                    this text;   -v, --version   the version

attach:   --instance-id <id> (EAIS_INSTANCE_ID)  --region <id> (EAIS_REGION)  --slot <slot id>
          --lease <duration>  lease to ask for; each later command renews it   [10m]
infer:    --inputs <file.json>  {"name": {"dtype": "float32", "dims": [1, 3], "data": [...]}}
          --output <name>       only this output (repeatable)
          --output-dir <dir>    also write each output as <dir>/<name>.npy
          --name <model name>   name on the slot (default: the file's base name)
          --deadline <duration> per call                                    [60s]
`;

function fleetText(f: FleetInfo): string {
  const where = f.mode === 'etcd' ? `etcd ${f.etcdEndpoints.join(',')}` : 'single (this daemon alone, in memory)';
  const lease = `lease ${f.lease} since ${f.leaseSince.toISOString()} (TTL ${f.leaseTtlMs / 1000} s)${f.leaseDetail === undefined ? '' : `: ${f.leaseDetail}`}`;
  return `fleet: ${where}  daemon ${f.daemonId} at ${f.address}  ${f.mode === 'etcd' ? lease : ''}`.trimEnd();
}

function describeText(d: Description): string {
  const security = [d.security.tls ? (d.security.mtls ? 'mTLS' : 'TLS') : 'plaintext', d.security.keys ? 'operator keys' : 'no keys (local mode)'].join(', ');
  const lines = [
    `daemon ${d.endpoint}  version ${d.daemonVersion}  region ${d.region}  zone ${d.zone}  up since ${d.startedAt.toISOString()}`,
    `security: ${security}`,
    ...(d.fleet === undefined ? [] : [fleetText(d.fleet)]),
    ...d.warnings.map((w) => `warning: ${w}`),
    '',
    'slots:',
  ];
  for (const s of d.slots) {
    lines.push(
      `  ${s.id}  ${s.spec.name}  ${s.spec.fp32Tflops} TFLOPS FP32, ${s.spec.fp16Tflops} TFLOPS FP16, ${formatBytes(s.spec.memoryBytes)}  ${s.state}${s.bound ? ' (bound)' : ''}  ${formatBytes(s.memoryUsedBytes)} used`,
      `    quota used over the last minute: FP32 ${s.fp32UtilisationPct.toFixed(1)}%, FP16 ${s.fp16UtilisationPct.toFixed(1)}%; ${s.queuedRequests} request(s) waiting`,
    );
  }
  lines.push('', 'engines:');
  for (const e of d.engines) {
    lines.push(`  ${e.name.padEnd(14)} ${e.available ? 'available  ' : 'unavailable'}  ${e.formats.join(',')}  ${e.available ? e.devices.join(' → ') : (e.reason ?? '')}`);
  }
  if (d.boundSlotId !== undefined) {
    lines.push('', `your models on ${d.boundSlotId}:`);
    for (const m of d.models) {
      lines.push(`  ${m.name}  ${m.format}${m.convertedFrom === undefined ? '' : ' (as ONNX)'} on ${m.engine}/${m.device}  ${formatBytes(m.weightsBytes)}  sha256 ${m.sha256.slice(0, 12)}`);
      if (m.conversionNote !== undefined) lines.push(`    ${m.conversionNote}`);
      const flops = m.flops ?? m.lastFlops;
      if (flops !== undefined) {
        lines.push(`    ${((flops.fp32 + flops.fp16) / 1e9).toFixed(3)} GFLOP per inference (FP32 ${(flops.fp32 / 1e9).toFixed(3)}, FP16 ${(flops.fp16 / 1e9).toFixed(3)}; ${(flops.macs / 1e9).toFixed(3)} GMAC) at ${flops.inputShapes}`);
      } else if (m.flopsNote !== undefined) {
        lines.push(`    ${m.flopsNote}`);
      }
      for (const s of m.skipped) lines.push(`    skipped ${s.engine}${s.device ? `/${s.device}` : ''}: ${s.reason}`);
    }
    if (d.models.length === 0) lines.push('  none');
  }
  return `${lines.join('\n')}\n`;
}

async function runDescribe(values: Values): Promise<void> {
  const { state, endpoint } = await savedBind(values, [oneEndpoint(values, 'describe')]);
  const d = await describe({ endpoint, token: state?.token, ...security(values) });
  print(values.json === true, d, describeText(d));
}

async function runAttach(values: Values): Promise<void> {
  const endpoint = oneEndpoint(values, 'attach');
  await attachAndSave(values, [endpoint], { endpoint, slotId: values.slot });
}

async function runLoad(values: Values, positionals: string[]): Promise<void> {
  const modelPath = positionals[1];
  if (modelPath === undefined) throw new UsageError('load needs a model: eais load <model.onnx | model folder> [--name <name>]');
  const { file, state, endpoint } = await savedBind(values, [oneEndpoint(values, 'load')]);
  if (state === undefined) throw new UsageError(`no bind to ${endpoint} is saved in ${file}; run eais attach first (load keeps the model on the saved bind)`);
  const accelerator = AcceleratorImpl.resume(state, security(values));
  try {
    const model = await interruptible(
      (signal) => accelerator.loadModel(modelPath, { name: values.name, signal, onProgress: progressBar() }),
      async () => accelerator.disconnect(),
    );
    print(
      values.json === true,
      { model: { name: model.name, engine: model.engine, device: model.device, sha256: model.sha256, inputs: model.inputs, outputs: model.outputs }, slot: state.slot.id },
      `loaded ${model.name} on ${model.engine}/${model.device} (slot ${state.slot.id}); infer with any KServe v2 client and the saved bind's token\n`,
    );
  } finally {
    accelerator.disconnect();
  }
}

async function runDetach(values: Values): Promise<void> {
  // A bind that already ended on the daemon (lease expiry) counts as detached.
  await detachSaved(values, [oneEndpoint(values, 'detach')], (state) => AcceleratorImpl.resume(state, security(values)).detach());
}

async function runUsage(values: Values): Promise<void> {
  const { state, endpoint } = await savedBind(values, [oneEndpoint(values, 'usage')]);
  const rows = await usage({ endpoint, token: state?.token, ...security(values) });
  print(values.json === true, rows, usageText(rows));
}

async function runPlan(values: Values): Promise<void> {
  const { vcpu, memory, gpus } = values;
  const result = plan(needFrom({ vcpu, memory, gpus, 'fp32-tflops': values['fp32-tflops'], 'fp16-tflops': values['fp16-tflops'], 'gpu-memory': values['gpu-memory'] }));
  print(values.json === true, result, planText(result));
}

async function runInfer(values: Values, positionals: string[]): Promise<void> {
  const modelPath = positionals[1];
  if (modelPath === undefined) throw new UsageError('infer needs a model: eais infer <model.onnx | model folder> --input name=file.npy');
  const feeds = await readFeeds(values.input ?? [], values.inputs);
  const deadlineMs = parseDuration(values.deadline ?? '60s', '--deadline');
  const { state, endpoint } = await savedBind(values, [oneEndpoint(values, 'infer')]);
  // Ctrl-C cancels the upload, and a one-shot bind is detached before the process exits,
  // so the next command is not refused with CLIENT_ALREADY_BOUND for the lease's length.
  let accelerator: AcceleratorImpl | undefined;
  // An interrupt while Attach is in flight waits for its answer, so that bind is detached too.
  let attaching: Promise<AcceleratorImpl> | undefined;
  const release = async (): Promise<void> => {
    if (state !== undefined) return accelerator?.disconnect();
    const bound = accelerator ?? (await attaching?.catch(() => undefined));
    await bound?.detach().catch(() => undefined);
  };
  await interruptible(async (signal) => {
    try {
      if (state !== undefined) accelerator = AcceleratorImpl.resume(state, security(values));
      else {
        attaching = AcceleratorImpl.attach({ endpoint, ...security(values), instanceId: values['instance-id'], region: values.region, slotId: values.slot });
        accelerator = await attaching;
      }
      const model = await accelerator.loadModel(modelPath, { name: values.name, signal, onProgress: progressBar() });
      const started = performance.now();
      const outputs = await model.run(feeds, { outputs: values.output, deadlineMs });
      const ms = performance.now() - started;
      const files = values['output-dir'] === undefined ? [] : await writeOutputs(values['output-dir'], outputs);
      print(
        values.json === true,
        { model: { name: model.name, engine: model.engine, device: model.device, sha256: model.sha256 }, ms, outputs: outputsJson(outputs), files },
        `${model.name} on ${model.engine}/${model.device} (slot ${accelerator.slot.id}) in ${ms.toFixed(1)} ms\n${outputsText(outputs)}${files.map((f) => `wrote ${f}\n`).join('')}`,
        true,
      );
    } finally {
      await release();
    }
  }, release);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`eais: ${(err as Error).message}\nRun eais --help for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help === true && command === 'eai') {
    process.stdout.write(EAI_HELP);
    return 0;
  }
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const commands: Record<string, () => Promise<void>> = {
    describe: () => runDescribe(values),
    attach: () => runAttach(values),
    detach: () => runDetach(values),
    infer: () => runInfer(values, positionals),
    load: () => runLoad(values, positionals),
    usage: () => runUsage(values),
    plan: () => runPlan(values),
    eai: () => runEai(values, positionals),
  };
  // Own keys only: "constructor" or "toString" is no command.
  const run = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (run === undefined) {
    process.stderr.write(`eais: unknown command "${command}"; the commands are ${Object.keys(commands).join(', ')}\n`);
    return 2;
  }
  try {
    await run();
    return 0;
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof TypeError;
    const forgotten = command === 'detach' ? undefined : await forgetEndedBind(values, err);
    if (values.json === true) {
      const error =
        err instanceof EaisError
          ? { code: err.codeName, reason: err.reason, message: err.message, requestId: err.requestId, slotId: err.slotId }
          : { message: (err as Error).message };
      process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
    } else if (err instanceof EaisError) {
      process.stderr.write(`eais: ${err.message}\n  (${err.codeName}, reason ${err.reason}${err.requestId ? `, request ${err.requestId}` : ''}${err.slotId ? `, slot ${err.slotId}` : ''})\n`);
    } else {
      process.stderr.write(`eais: ${(err as Error).message}\n`);
    }
    if (err instanceof UsageError && err.usage !== undefined) process.stderr.write(`\n${err.usage}`);
    if (forgotten !== undefined) process.stderr.write(`eais: the saved bind in ${forgotten} has ended on the daemon and was removed; eais attach binds again\n`);
    return usage ? 2 : 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
