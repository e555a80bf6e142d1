// FLOP counter of TF.js graph models: walks the GraphDef in model.json in dependency order,
// with the small constants shape arithmetic needs read from the weight shards.

import { dtypeFromTf } from '@eais/shared';
import type { CounterInput, FlopCounter } from './flops-counter.js';
import { numel } from './flops-shapes.js';
import { FlopTally, lastReaders } from './flops-tally.js';
import { dims, readTfGraphModel, sortNodes, type TfNode } from './flops-tf-graph.js';
import { evaluateTf } from './flops-tf-ops.js';
import { smallWeights } from './flops-tf-weights.js';
import type { Value } from './flops-values.js';

/** Reads a TF.js graph model's model.json (and its small constants) and returns its FLOP counter. */
export async function tfGraphFlopCounter(folder: string): Promise<FlopCounter> {
  const json = await readTfGraphModel(folder);
  const constants = await smallWeights(folder, json.weightsManifest ?? []);
  const nodes = sortNodes(json.modelTopology.node);
  const refs = (node: TfNode): string[] => (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => (i.includes(':') ? i : `${i}:0`));
  const last = lastReaders(nodes.map((n) => ({ inputs: refs(n) })));
  const inputs: CounterInput[] = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({ name: n.name, shape: dims(n.attr?.shape?.shape).map((d, i) => (d >= 0 ? d : `d${i}`)) }));

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, Value[]>();
      const tally = new FlopTally();
      for (const [index, node] of nodes.entries()) {
        if (node.op === 'Placeholder') {
          const shape = shapes[node.name];
          if (shape === undefined) throw new Error(`no shape for input "${node.name}"`);
          const dtype = dtypeFromTf(node.attr?.dtype?.type ?? '') ?? 'float32';
          env.set(node.name, [{ dtype, shape }]);
          tally.hold(`${node.name}:0`, numel(shape), dtype);
          continue;
        }
        const ins = (node.input ?? [])
          .filter((i) => !i.startsWith('^'))
          .map((ref) => {
            const [name, index] = ref.split(':') as [string, string | undefined];
            const value = env.get(name)?.[Number(index ?? 0)];
            if (value === undefined) throw new Error(`${node.op} ${node.name} reads "${ref}", which nothing produced`);
            return value;
          });
        try {
          const outputs = evaluateTf(node, ins, tally, constants);
          env.set(node.name, outputs);
          if (node.op !== 'Const') outputs.forEach((v, k) => tally.hold(`${node.name}:${k}`, numel(v.shape), v.dtype));
          for (const ref of refs(node)) if (last.get(ref) === index) tally.release(ref);
        } catch (err) {
          throw new Error(`${node.op} (${node.name}): ${(err as Error).message}`);
        }
      }
      return tally.total;
    },
  };
}
