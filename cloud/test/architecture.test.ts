import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The collector's layering, checked on the import graph of every non-test `.ts` file under cloud/ (imports,
 * re-exports and dynamic imports, as TypeScript's pre-processor reads them; `import type` counts too). A node is a
 * folder under cloud/, or one of the files at cloud/'s top: `config` (config.ts, the config schema over every stage's
 * section) and `errors` (errors.ts, the error registry every folder uses).
 *
 * - store/ keeps records and depends on db/ alone (and the error registry): nothing from the stages after it, nor
 *   from the wiring above it.
 * - db/ (adapters, SQL helpers, the migrations) depends on no other cloud folder (the error registry aside).
 * - The folder graph has no cycle: the data path runs one way (ingest → verify → store → queue → reclassify →
 *   notify → push), with api/ and server/ on top and cli/ on top of server/.
 * - No source file is over 500 lines.
 */
const CLOUD = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (path !== join(CLOUD, 'test')) out.push(...sourceFiles(path));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out.sort();
}

function folderOf(file: string): string {
  const parts = relative(CLOUD, file).split(sep);
  return parts[0]!.replace(/\.[jt]s$/, '');
}

interface Edge {
  from: string;
  to: string;
  /** `file → specifier` of every import making the edge. */
  via: string[];
}

/** Folder → folder edges (within cloud/), each with the imports that make it. */
function folderGraph(): Map<string, Map<string, Edge>> {
  const graph = new Map<string, Map<string, Edge>>();
  for (const file of sourceFiles(CLOUD)) {
    const from = folderOf(file);
    if (!graph.has(from)) graph.set(from, new Map());
    const imports = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
    for (const spec of imports) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(CLOUD + sep) || target.startsWith(join(CLOUD, 'test') + sep)) continue;
      const to = folderOf(target);
      if (to === from) continue;
      const edges = graph.get(from)!;
      const edge = edges.get(to) ?? { from, to, via: [] };
      edge.via.push(`${relative(CLOUD, file)} → ${spec}`);
      edges.set(to, edge);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan): each holds at least one cycle. */
function tangles(graph: Map<string, Map<string, Edge>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out;
}

/** The shortest cycle through `start` inside `component`, as `start → … → start` (breadth-first). */
function cycleThrough(graph: Map<string, Map<string, Edge>>, component: string[], start: string): string[] {
  const back = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!component.includes(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = back.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!back.has(w)) {
        back.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

function describeCycle(graph: Map<string, Map<string, Edge>>, cycle: string[]): string {
  const steps = cycle.slice(0, -1).map((from, i) => {
    const edge = graph.get(from)!.get(cycle[i + 1]!)!;
    return `  ${from} → ${edge.to}  (${edge.via.slice(0, 2).join('; ')}${edge.via.length > 2 ? '; …' : ''})`;
  });
  return `${cycle.join(' → ')}\n${steps.join('\n')}`;
}

function importsOf(graph: Map<string, Map<string, Edge>>, from: string): Edge[] {
  return [...(graph.get(from)?.values() ?? [])];
}

describe('cloud layering', () => {
  const graph = folderGraph();

  it('reads the import graph (sanity: the server wires the stages)', () => {
    expect(importsOf(graph, 'server').map((e) => e.to)).toEqual(
      expect.arrayContaining(['store', 'ingest', 'api', 'notify']),
    );
  });

  it('store/ imports nothing from the stages after it or the wiring above it', () => {
    const forbidden = [
      'api',
      'blob',
      'ingest',
      'pairing',
      'queue',
      'notify',
      'push',
      'broker',
      'live',
      'server',
      'cli',
    ];
    const bad = importsOf(graph, 'store').filter((e) => forbidden.includes(e.to));
    expect(bad.map((e) => `store → ${e.to}: ${e.via.join('; ')}`)).toEqual([]);
  });

  it('store/ depends on db/ alone, and db/ on no other cloud folder (the error registry aside)', () => {
    const store = importsOf(graph, 'store').filter((e) => e.to !== 'db' && e.to !== 'errors');
    expect(store.map((e) => `store → ${e.to}: ${e.via.join('; ')}`)).toEqual([]);
    const db = importsOf(graph, 'db').filter((e) => e.to !== 'errors');
    expect(db.map((e) => `db → ${e.to}: ${e.via.join('; ')}`)).toEqual([]);
  });

  it('the folder graph has no cycle', () => {
    const found = tangles(graph).map(
      (c) => `{${c.join(', ')}}, e.g. ${describeCycle(graph, cycleThrough(graph, c, c[0]!))}`,
    );
    expect(found, `import cycles between cloud folders:\n${found.join('\n')}`).toEqual([]);
  });

  it('no source file is over 500 lines', () => {
    const long = sourceFiles(CLOUD)
      .map((f) => ({ f: relative(CLOUD, f), lines: readFileSync(f, 'utf8').trimEnd().split('\n').length }))
      .filter((x) => x.lines > 500);
    expect(long).toEqual([]);
  });
});
