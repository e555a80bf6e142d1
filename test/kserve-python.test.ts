// The README's Python example (Triton's client) runs as written against the daemon: with
// tritonclient when it is installed, else with a small stand-in for the part of its API
// the example uses, built on stubs generated from this project's own proto.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI_MAIN, REPO, startDaemon } from './helpers/daemon.js';
import { REC_MODEL } from './helpers/models.js';

const run = promisify(execFile);

/** A Python with grpcio and numpy (Debian's python3-grpcio, python3-numpy), or undefined. */
function findPython(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(python, ['-c', 'import grpc, numpy\ntry:\n    import tritonclient.grpc\nexcept ImportError:\n    import grpc_tools'], { stdio: 'ignore' });
      return python;
    } catch {
      // Next.
    }
  }
  return undefined;
}

function has(python: string, module: string): boolean {
  try {
    execFileSync(python, ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const PYTHON = findPython();
const NO_PYTHON = PYTHON === undefined ? "Python's grpcio, numpy and tritonclient or grpc_tools are absent (Debian: python3-grpcio python3-grpc-tools python3-numpy)" : undefined;

/**
 * The part of tritonclient.grpc the README uses, on stubs generated from the project's
 * proto with grpc_tools (Debian: python3-grpc-tools).
 */
const STAND_IN = `
import grpc
import numpy as np
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc

_NP = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "UINT8": np.uint8, "BOOL": np.bool_}


class InferInput:
    def __init__(self, name, shape, datatype):
        self._tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
        self._raw = b""

    def set_data_from_numpy(self, array):
        self._raw = np.ascontiguousarray(array).tobytes()


class InferResult:
    def __init__(self, response):
        self._response = response

    def as_numpy(self, name):
        for i, out in enumerate(self._response.outputs):
            if out.name == name:
                return np.frombuffer(self._response.raw_output_contents[i], dtype=_NP[out.datatype]).reshape(list(out.shape))
        return None


class InferenceServerClient:
    def __init__(self, url):
        self._stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))

    @staticmethod
    def _metadata(headers):
        return list((headers or {}).items())

    def is_server_ready(self, headers=None):
        return self._stub.ServerReady(pb.ServerReadyRequest(), metadata=self._metadata(headers)).ready

    def get_model_metadata(self, model_name, headers=None):
        return self._stub.ModelMetadata(pb.ModelMetadataRequest(name=model_name), metadata=self._metadata(headers))

    def infer(self, model_name, inputs, headers=None):
        request = pb.ModelInferRequest(model_name=model_name, inputs=[i._tensor for i in inputs], raw_input_contents=[i._raw for i in inputs])
        return InferResult(self._stub.ModelInfer(request, metadata=self._metadata(headers)))
`;

describe.skipIf(NO_PYTHON !== undefined)(`a KServe v2 client in Python${NO_PYTHON === undefined ? '' : ` (skipped: ${NO_PYTHON})`}`, () => {
  it("should run the README's tritonclient example as written, with only the bind token", async () => {
    const python = PYTHON as string;
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = /## Use any KServe v2 client([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    const example = /```python\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example).toBeDefined();
    const work = mkdtempSync(join(tmpdir(), 'eais-python-'));
    const env: NodeJS.ProcessEnv = { ...process.env, EAIS_BIND_FILE: join(work, 'bind.json') };
    if (!has(python, 'tritonclient.grpc')) {
      // Stubs from the project's own proto, and the stand-in package beside them.
      execFileSync(python, ['-m', 'grpc_tools.protoc', '-I', join(REPO, 'proto'), `--python_out=${work}`, `--grpc_python_out=${work}`, 'inference/grpc_service.proto']);
      writeFileSync(join(work, 'inference', '__init__.py'), '');
      mkdirSync(join(work, 'tritonclient', 'grpc'), { recursive: true });
      writeFileSync(join(work, 'tritonclient', '__init__.py'), '');
      writeFileSync(join(work, 'tritonclient', 'grpc', '__init__.py'), STAND_IN);
      env.PYTHONPATH = work;
    }
    const daemon = await startDaemon();
    try {
      env.EAIS_ENDPOINT = daemon.endpoint;
      // The README's shell steps: attach (the token), then load on the saved bind.
      const attached = JSON.parse((await run(process.execPath, [CLI_MAIN, 'attach', '--json', '--instance-id', 'i-python'], { env })).stdout) as { token: string };
      await run(process.execPath, [CLI_MAIN, 'load', REC_MODEL, '--name', 'ocr-rec'], { env });
      const script = join(work, 'example.py');
      writeFileSync(script, example as string);
      const { stdout } = await run(python, [script], { env: { ...env, EAIS_TOKEN: attached.token }, timeout: 60_000 });
      expect(stdout).toBe('True onnxruntime_onnx\n(1, 40, 6625)\n');
      await run(process.execPath, [CLI_MAIN, 'detach'], { env });
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
