import { createHash } from 'node:crypto';
import { ANSWER_SCHEMA_VERSION } from './answer.js';
import type { ReclassifyConfig } from './config.js';

/**
 * Per-label prompts. A template may use {label}, {camera} and {device}; unknown `{…}` are left as written so a
 * prompt can still contain literal braces. The version (a short hash of the system prompt, the label's template and
 * the answer schema version) is part of the cache key: editing a prompt re-asks, the same prompt never does.
 */
export interface PromptVars {
  label: string;
  camera: string;
  device: string;
}

export interface RenderedPrompt {
  system: string;
  user: string;
  version: string;
}

export function renderTemplate(template: string, vars: PromptVars): string {
  return template.replace(/\{(label|camera|device)\}/g, (_m, name: keyof PromptVars) => vars[name]);
}

export function promptTemplate(prompts: ReclassifyConfig['prompts'], label: string): string {
  return prompts.labels[label] ?? prompts.default;
}

export function promptVersion(prompts: ReclassifyConfig['prompts'], label: string): string {
  return createHash('sha256')
    .update(`v${ANSWER_SCHEMA_VERSION}\0${prompts.system}\0${promptTemplate(prompts, label)}`)
    .digest('hex')
    .slice(0, 12);
}

export function renderPrompt(prompts: ReclassifyConfig['prompts'], vars: PromptVars): RenderedPrompt {
  return {
    system: renderTemplate(prompts.system, vars),
    user: renderTemplate(promptTemplate(prompts, vars.label), vars),
    version: promptVersion(prompts, vars.label),
  };
}
