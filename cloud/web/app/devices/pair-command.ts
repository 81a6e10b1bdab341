/** The command a person runs on the box (agent/cli/pair.ts); shell-quoted where needed. */
export function pairCommand(cloud: string, code: string, name: string): string {
  const q = (s: string): string => (/^[A-Za-z0-9_./:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return `vigil-agent pair --cloud ${q(cloud)} --code ${q(code)}${name ? ` --name ${q(name)}` : ''}`;
}
