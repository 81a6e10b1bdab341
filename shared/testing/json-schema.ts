import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/**
 * An independent validator compiled by ajv (strict, all errors, ajv-formats) from a checked-in JSON Schema file,
 * not from the TypeBox schema it was exported from: what a firmware team in another language would load. Tests only
 * (ajv is a development dependency).
 */
export function schemaFileValidator(path: string): ValidateFunction {
  const ajv = addFormats(new Ajv({ strict: true, allErrors: true, strictTypes: false }));
  return ajv.compile(JSON.parse(readFileSync(path, 'utf8')) as object);
}
