import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The agent's shape, checked on the source (every non-test `.ts` file under agent/):
 * - the folders import each other one way, along the data path (camera → motion → detect → track → thumbnail →
 *   wire → outbox → uplink, with pipeline/ and daemon/ wiring them and cli/ on top): no cycle between folders;
 * - the store-and-forward stages do not reach back: outbox/ imports nothing from wire/, uplink/ or daemon/, wire/
 *   nothing from outbox/, uplink/ or daemon/, uplink/ nothing from daemon/;
 * - no source file is over 500 lines.
 * A node is a folder under agent/, or a file at agent/'s top (`config`, `errors`).
 */
const AGENT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return path === join(AGENT, 'test') ? [] : sources(path);
      return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

const nodeOf = (file: string): string => relative(AGENT, file).split(sep)[0]!.replace(/\.ts$/, '');

/** folder → (folder it imports → the `file → specifier` imports that make the edge). */
function importGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sources(AGENT)) {
    const from = nodeOf(file);
    const out = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, out);
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const target = resolve(dirname(file), spec);
      if (!spec.startsWith('.') || !target.startsWith(AGENT + sep)) continue;
      const to = nodeOf(target);
      if (to !== from) out.set(to, [...(out.get(to) ?? []), `${relative(AGENT, file)} → ${spec}`]);
    }
  }
  return graph;
}

/**
 * The folders left after peeling off, again and again, every folder that imports none of the folders still left
 * and every folder none of them imports: empty when the graph has no cycle, else the folders on (or between) cycles.
 */
function onCycles(graph: Map<string, Map<string, string[]>>): string[] {
  const left = new Set(graph.keys());
  const imports = (v: string): string[] => [...(graph.get(v)?.keys() ?? [])].filter((w) => left.has(w));
  const imported = (v: string): boolean => [...left].some((u) => imports(u).includes(v));
  for (let peeled = true; peeled; ) {
    peeled = false;
    for (const v of [...left]) {
      if (imports(v).length === 0 || !imported(v)) {
        left.delete(v);
        peeled = true;
      }
    }
  }
  return [...left].sort();
}

describe('agent layering', () => {
  const graph = importGraph();
  const edges = (from: string, to: readonly string[]): string[] =>
    [...(graph.get(from) ?? new Map<string, string[]>())]
      .filter(([t]) => to.includes(t))
      .map(([t, via]) => `${from} → ${t}: ${via.join('; ')}`);

  it('reads the import graph (sanity: the daemon wires the stages)', () => {
    const wired = [...(graph.get('daemon')?.keys() ?? [])];
    expect(wired).toEqual(expect.arrayContaining(['outbox', 'uplink', 'wire', 'pipeline']));
  });

  it('has no import cycle between folders', () => {
    const left = onCycles(graph);
    const detail = left.flatMap((v) => edges(v, left));
    expect(left, `folders on an import cycle:\n${detail.join('\n')}`).toEqual([]);
  });

  it('store-and-forward imports point down the data path only', () => {
    expect([
      ...edges('wire', ['outbox', 'uplink', 'daemon']),
      ...edges('outbox', ['wire', 'uplink', 'daemon']),
      ...edges('uplink', ['daemon']),
    ]).toEqual([]);
  });

  it('no source file is over 500 lines', () => {
    const long = sources(AGENT)
      .map((f) => ({ file: relative(AGENT, f), lines: readFileSync(f, 'utf8').trimEnd().split('\n').length }))
      .filter((x) => x.lines > 500);
    expect(long).toEqual([]);
  });
});
