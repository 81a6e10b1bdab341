#!/usr/bin/env node
// Runs the compiled CLI. `npm install` builds it (the package's prepare script); `npm run build` rebuilds it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/agent/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error(
    'vigil-agent: the build output is missing (dist/agent/cli/main.js); run `npm run build` in the Vigil folder',
  );
  process.exit(1);
}
await import(entry.href);
