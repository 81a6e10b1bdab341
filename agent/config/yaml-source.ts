import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

/**
 * The config file as YAML nodes, for pointing at lines: the line of a key path (as deep as the file has it) and the
 * key path at a byte offset (where the YAML parser reported a duplicate key). Read once per load; a file that
 * cannot be read or parsed gives no lines (the loader reports that itself).
 */
export type KeyPath = readonly (string | number)[];

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly counter: LineCounter,
  ) {}

  static read(file: string | undefined): YamlSource | undefined {
    if (!file) return undefined;
    try {
      const counter = new LineCounter();
      const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter: counter });
      return new YamlSource(file, doc, counter);
    } catch {
      return undefined;
    }
  }

  /** The first duplicate-key error of the file: its offset and line. */
  duplicateKey(): { offset: number; line: number | undefined } | undefined {
    const e = this.doc.errors.find((x) => x.code === 'DUPLICATE_KEY');
    if (!e) return undefined;
    return { offset: e.pos[0], line: this.counter.linePos(e.pos[0]).line };
  }

  /**
   * Line of the deepest node of `path` the file has: a mapping entry's key line when the value is a block mapping
   * (a zone: the line of its name), else the value's own line.
   */
  line(path: KeyPath): number | undefined {
    let node: unknown = this.doc.contents;
    let found: Node | undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(key));
        if (!pair) break;
        found = isNode(pair.key) ? pair.key : found;
        node = pair.value;
        if (isNode(node) && !(isMap(node) && !node.flow)) found = node;
      } else if (isSeq(node)) {
        const item = node.items[Number(key)];
        if (!isNode(item)) break;
        node = item;
        found = item;
      } else break;
    }
    const offset = found?.range?.[0];
    return offset === undefined ? undefined : this.counter.linePos(offset).line;
  }

  /** `file:line` of `path` (just the file when the line is unknown). */
  where(path: KeyPath): string {
    const line = this.line(path);
    return line ? `${this.file}:${line}` : this.file;
  }

  /** The key path of the mapping key that starts at `offset` (e.g. a duplicated key), or undefined. */
  pathOfKeyAt(offset: number): (string | number)[] | undefined {
    const walk = (node: unknown, path: (string | number)[]): (string | number)[] | undefined => {
      if (isMap(node)) {
        for (const pair of node.items) {
          const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
          if (isNode(pair.key) && pair.key.range?.[0] === offset) return [...path, key];
          const inner = walk(pair.value, [...path, key]);
          if (inner) return inner;
        }
      } else if (isSeq(node)) {
        for (let i = 0; i < node.items.length; i++) {
          const inner = walk(node.items[i], [...path, i]);
          if (inner) return inner;
        }
      }
      return undefined;
    };
    return walk(this.doc.contents, []);
  }
}
