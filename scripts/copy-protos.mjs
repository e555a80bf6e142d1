// Copies the repository's proto/ sources into the packages that load them, so each
// package (and its npm tarball) carries its own .proto files.
//
//   proto/eais/**, proto/inference/** → packages/shared/proto/      (loadServices)
//   proto/onnx/**                     → packages/accelerator/proto/ (the ONNX FLOP counter)
//
// Run by the root `build` script and by each package's `prepack`. With `--license` it
// also copies the root LICENSE into the package in the current directory (for `npm pack`).
// Each file is written to a temporary name and renamed over the old one, and unchanged
// files are left alone, so a daemon reading these folders while this runs (tests run in
// parallel with `npm pack`) never sees a missing or half-written file.

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** Which subfolders of proto/ each package ships. */
const TARGETS = [
  { dest: 'packages/shared/proto', folders: ['eais', 'inference'] },
  { dest: 'packages/accelerator/proto', folders: ['onnx'] },
];

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/** Writes `from` to `to` through a temporary file and a rename, unless `to` already holds the same bytes. */
function copyAtomic(from, to) {
  const bytes = readFileSync(from);
  if (existsSync(to) && readFileSync(to).equals(bytes)) return false;
  mkdirSync(dirname(to), { recursive: true });
  const temp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, temp);
  renameSync(temp, to);
  return true;
}

let copied = 0;
for (const { dest, folders } of TARGETS) {
  const destRoot = join(REPO, dest);
  const wanted = new Set();
  for (const folder of folders) {
    for (const file of filesUnder(join(REPO, 'proto', folder))) {
      const rel = relative(join(REPO, 'proto'), file);
      wanted.add(rel);
      if (copyAtomic(file, join(destRoot, rel))) copied += 1;
    }
  }
  // Files whose source is gone (renamed or moved to another package) would ship stale.
  if (existsSync(destRoot)) {
    for (const file of filesUnder(destRoot)) {
      const rel = relative(destRoot, file);
      if (!wanted.has(rel) && !rel.endsWith('.tmp')) rmSync(file, { force: true });
    }
  }
}

if (process.argv.includes('--license')) {
  if (copyAtomic(join(REPO, 'LICENSE'), join(process.cwd(), 'LICENSE'))) copied += 1;
}

// stderr: `npm pack --json` runs this as prepack, and its stdout must stay JSON.
if (copied > 0) process.stderr.write(`copy-protos: ${copied} file(s) updated\n`);
