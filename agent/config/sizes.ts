/**
 * Byte sizes written in config: `10MiB`, `10M`, `10MB`, `512K`, `1G`, `4096`. K/M/G are binary multiples
 * (1024-based) whichever spelling is used: log and disk budgets are about files, and the difference would only
 * surprise someone comparing against `ls -l`.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*$/.exec(text);
  if (!m) throw new RangeError(`not a size: "${text}" (expected e.g. 512K, 10MiB, 1G or a number of bytes)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * factor);
}
