import sharp from 'sharp';

/**
 * Native memory limits of the daemon (a box has 256–512 MB for everything): libvips keeps no operation cache (the
 * daemon encodes each crop once; the cache would hold up to 50 MB of decoded images and results) and runs one
 * worker thread per operation (crops are small; each extra thread brings its own malloc arena).
 */
export function limitNativeMemory(): void {
  sharp.cache(false);
  sharp.concurrency(1);
}
