#!/usr/bin/env node
// `npm start`: the one-command demo (collector + paired agent + live event feed). Loads the compiled demo.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/agent/demo/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error(
    'vigil-demo: the build output is missing (dist/agent/demo/main.js); run `npm install` (or `npm run build`) in the Vigil folder',
  );
  process.exit(1);
}
await import(entry.href);
