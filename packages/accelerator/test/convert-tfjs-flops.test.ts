// Converted graph models count the same FLOPs as their TF.js graphs: the daemon charges the
// TF.js graph's count for a model run converted on ORT, and the ONNX counter agrees with it.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertTfjsGraph } from '../src/convert/convert.js';
import { loadFlopCounter } from '../src/flops/flops.js';
import { humanGraphModel, type HumanModelName } from '../../../test/helpers/tf-models.js';

// movenet-lightning is left out: the ONNX counter has no rule for GatherND yet.
const MODELS: readonly HumanModelName[] = ['antispoof', 'blazeface', 'centernet', 'emotion', 'facemesh', 'iris'];

describe('FLOPs of converted TF.js graph models', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'eais-convert-flops-'));

  for (const name of MODELS) {
    it(`should count ${name}'s ONNX within 1% of its TF.js graph at the declared shapes (batch 1)`, async () => {
      const dir = await humanGraphModel(name);
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
      const weights = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))));
      const converted = convertTfjsGraph(json, new Uint8Array(weights));
      if (!converted.ok) throw new Error(`${name} was not converted: ${converted.why}`);
      const file = join(tmp, `${name}.onnx`);
      writeFileSync(file, converted.onnx);
      const shapes = Object.fromEntries(converted.inputs.map((i) => [i.name, (i.shape ?? []).map((d) => (d < 0 ? 1 : d))]));
      const tf = (await loadFlopCounter('tfjs-graph', dir)).count(shapes);
      const onnx = (await loadFlopCounter('onnx', file)).count(shapes);
      expect(Math.abs(onnx.fp32 - tf.fp32) / tf.fp32).toBeLessThan(0.01);
      expect(Math.abs(onnx.macs - tf.macs) / tf.macs).toBeLessThan(0.01);
    });
  }
});
