/**
 * Limits checked on a JSON body BEFORE it is parsed: nesting depth (and NUL characters, which no database text column
 * stores) by a single pass over the bytes that skips string contents (escapes included). UTF-8 continuation bytes are
 * all ≥ 0x80, so scanning bytes never mistakes part of a multi-byte character for a bracket or a quote. Linear time,
 * constant memory; a body it accepts can be parsed, validated, fingerprinted and serialized without deep recursion
 * anywhere.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

export interface JsonScan {
  /** Deepest nesting of arrays and objects; counting stops once past `stopAbove` (then `stopAbove + 1`). */
  depth: number;
  /** A string (or key) holds U+0000, written `\u0000`: no database text column can store it. */
  nul: boolean;
}

const U = 0x75;
const ZERO = 0x30;

/**
 * One pass over `body`: nesting depth and NUL characters in strings. Malformed JSON gives some answer; JSON.parse
 * reports the malformation afterwards.
 */
export function scanJson(body: Uint8Array, stopAbove = Number.MAX_SAFE_INTEGER): JsonScan {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  let nul = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === BACKSLASH) {
        const n = i + 1;
        if (
          body[n] === U &&
          body[n + 1] === ZERO &&
          body[n + 2] === ZERO &&
          body[n + 3] === ZERO &&
          body[n + 4] === ZERO
        )
          nul = true;
        i++;
      } else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return { depth: deepest, nul };
      }
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
  }
  return { depth: deepest, nul };
}

/** The deepest nesting of arrays and objects in `body` (see scanJson). */
export function jsonNestingDepth(body: Uint8Array, stopAbove = Number.MAX_SAFE_INTEGER): number {
  return scanJson(body, stopAbove).depth;
}

const COLON = 0x3a;
const COMMA = 0x2c;

/**
 * Whether the top-level JSON object of `body` has the key `key`, read without parsing (so a size limit that depends
 * on the kind of body, e.g. one Event vs an EventBatch, is checked before any parsing). `maybe` when a top-level key
 * uses escapes (the raw bytes cannot tell), `no` for anything that is not an object.
 */
export function topLevelKey(body: Uint8Array, key: string): 'yes' | 'no' | 'maybe' {
  const wanted = Buffer.from(key, 'utf8');
  let depth = 0;
  let inString = false;
  let expectKey = false;
  let start = -1;
  let escaped = false;
  let maybe = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === BACKSLASH) {
        escaped = true;
        i++;
      } else if (b === QUOTE) {
        inString = false;
        if (start >= 0) {
          if (escaped) maybe = true;
          else if (i - start === wanted.length && Buffer.compare(wanted, body.subarray(start, i)) === 0) return 'yes';
          start = -1;
        }
      }
      continue;
    }
    if (b === QUOTE) {
      inString = true;
      escaped = false;
      start = depth === 1 && expectKey ? i + 1 : -1;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (depth === 0 && b === OPEN_ARRAY) return 'no';
      depth++;
      if (depth === 1) expectKey = true;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
    } else if (depth === 1 && b === COLON) {
      expectKey = false;
    } else if (depth === 1 && b === COMMA) {
      expectKey = true;
    }
  }
  return maybe ? 'maybe' : 'no';
}
