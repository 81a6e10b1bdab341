/** True when `b` starts with the JPEG SOI marker (FF D8) and ends with EOI (FF D9). */
export function isJpeg(b: Buffer): boolean {
  return b.length > 4 && b[0] === 0xff && b[1] === 0xd8 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9;
}
