/**
 * Cuts ffmpeg's raw video byte stream into whole frames. Pipe reads arrive in arbitrary sizes (64 KiB chunks, a
 * frame split across reads, several frames in one read); every frame gets its own buffer because downstream
 * stages may keep it (thumbnails) after the next one arrives.
 */
export class FrameChunker {
  private current: Buffer;
  private filled = 0;

  constructor(
    readonly frameSize: number,
    private readonly onFrame: (frame: Buffer) => void,
  ) {
    this.current = Buffer.allocUnsafe(frameSize);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.frameSize - this.filled, chunk.length - offset);
      chunk.copy(this.current, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameSize) {
        const done = this.current;
        this.current = Buffer.allocUnsafe(this.frameSize);
        this.filled = 0;
        this.onFrame(done);
      }
    }
  }

  /** Bytes of an incomplete frame held (a truncated last frame when the stream ends). */
  get partialBytes(): number {
    return this.filled;
  }

  reset(): void {
    this.filled = 0;
  }
}
