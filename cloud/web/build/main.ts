import { describeError } from '../../../shared/errors/index.js';
import { buildWebApp } from './build.js';
import { describeSize } from './size.js';

/** `npm run build:web`: builds the web app into dist/web/, prints the events screen's compressed JS size. */
try {
  const started = Date.now();
  const r = await buildWebApp();
  process.stdout.write(`web: ${r.files.length} files in ${r.outDir} (${Date.now() - started} ms)\n`);
  process.stdout.write(`web: ${describeSize(r.size)}\n`);
} catch (err) {
  process.stderr.write(`web build failed: ${describeError(err)}\n`);
  process.exitCode = 1;
}
