#!/usr/bin/env node
// Fails when the TypeScript sources import in a circle (type-only imports included).
//
// madge --circular is what we would use, but its TypeScript reader needs the TypeScript 5
// compiler API, which TypeScript 7 (this repository's compiler) no longer ships, and npm
// cannot install both side by side for it. Relative imports are all this repository uses
// between its own files, so reading them as text is exact here.
//
// Usage: node scripts/import-cycles.mjs DIR...   (exit 1 and each cycle printed when any)

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sources(path);
    return /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [resolve(path)] : [];
  });
}

/** The relative imports of each file, resolved to files of the set. */
export function importGraph(files) {
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const edges = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts');
      if (known.has(target)) edges.add(target);
    }
    graph.set(file, [...edges]);
  }
  return graph;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
export function cycles(graph) {
  let index = 0;
  const stack = [];
  const meta = new Map();
  const found = [];
  const visit = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index += 1;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!meta.has(w)) {
        visit(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) {
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
      }
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.reverse());
    }
  };
  for (const v of graph.keys()) if (!meta.has(v)) visit(v);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) {
    process.stderr.write('usage: node scripts/import-cycles.mjs DIR...\n');
    process.exit(2);
  }
  const files = dirs.flatMap(sources);
  const found = cycles(importGraph(files));
  for (const component of found) {
    process.stdout.write(`import cycle: ${component.map((f) => relative(process.cwd(), f)).join(' → ')}\n`);
  }
  process.stdout.write(found.length === 0 ? `no import cycles in ${files.length} files\n` : `${found.length} import cycle(s)\n`);
  process.exit(found.length === 0 ? 0 : 1);
}
