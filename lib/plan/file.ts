// The budget file: the budgets' data as JSON, checked against the schema's names and by the same readers as options in code.
import { readFileSync } from 'node:fs';
import { readConfig } from '../config';
import { checkName, fail } from '../options/check';
import { TokenBudgetConfigError } from '../config-error';
import { readCostMeter } from '../steps/costMeter';
import { createGlobalTpm } from '../steps/globalTpm';
import { checkUnreservedName, readQuotaLimits } from '../steps/quota';
import { priceOf, readPrices } from '../pricing/prices';
import type { BudgetFile } from '../types';
import schema from './budget.schema.json';

/** The part of a JSON Schema node that names an object's keys. */
interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  oneOf?: SchemaNode[];
}

const DEFINITIONS = schema.definitions as Record<string, SchemaNode>;

function resolve(node: SchemaNode): SchemaNode {
  return node.$ref === undefined ? node : DEFINITIONS[node.$ref.replace('#/definitions/', '')]!;
}

const isObjectNode = (node: SchemaNode) => node.properties !== undefined || typeof node.additionalProperties === 'object';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Every key of `value` must be one the schema names: a misspelt option would otherwise be
 * ignored, and a function-valued option (store, callbacks) cannot be written in JSON.
 * Values are left to the option readers.
 */
function checkKeys(value: unknown, node: SchemaNode, path: string): void {
  const resolved = resolve(node);
  const objectNode = isObjectNode(resolved) ? resolved : resolved.oneOf?.map(resolve).find(isObjectNode);
  if (objectNode === undefined) return;
  if (!isPlainObject(value)) {
    // A value that may also be a number or a string (limits, webhook) is left to its reader.
    if (objectNode === resolved) fail('TB_INVALID_OPTION', `${path} must be an object; got ${JSON.stringify(value)}.`);
    return;
  }
  const known = objectNode.properties ?? {};
  for (const [key, child] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    const childNode =
      known[key] ?? (typeof objectNode.additionalProperties === 'object' ? objectNode.additionalProperties : undefined);
    if (childNode === undefined) {
      fail(
        'TB_UNKNOWN_OPTION',
        `${at} is not an option a budget file holds; expected one of ${Object.keys(known).join(', ')} (functions — store, callbacks, messages, tier — stay in code).`,
      );
    }
    checkKeys(child, childNode, at);
  }
}

/** The alert callback is code, given where the meter is mounted; here it only stands in for it. */
const alertGivenInCode = () => {};

/** Checks the data of a budget file (already parsed) and returns it with `quotas` filled in. */
export function readBudgetFile(value: unknown): BudgetFile {
  if (!isPlainObject(value)) fail('TB_BUDGET_FILE', `A budget file must hold a JSON object; got ${JSON.stringify(value)}.`);
  checkKeys(value, schema as SchemaNode, '');
  const file = { ...value, quotas: value.quotas ?? {} } as BudgetFile;
  const config = readConfig(file);
  for (const [name, quota] of Object.entries(file.quotas)) {
    const path = `quotas.${name}`;
    checkName(name, `quota name "${name}"`);
    checkUnreservedName(name, path);
    readQuotaLimits(config, name, () => undefined, quota, path);
  }
  if (file.globalTpm !== undefined) createGlobalTpm(config, file.globalTpm);
  const prices = readPrices(file.prices, file.fallbackPrice);
  if (file.costMeter !== undefined) {
    readCostMeter(config, { ...file.costMeter, onAlert: alertGivenInCode }, 'costMeter');
    for (const feature of config.features.values()) priceOf(feature.model, prices);
  }
  return file;
}

/**
 * Reads a budget file (JSON): the options of `createTokenBudget` that are data, and the
 * quotas, global limit and cost meter the routes mount. Every mistake is a
 * `TokenBudgetConfigError` naming the file and the path of the bad field. Code options win
 * when spread after it: `createTokenBudget({ ...loadBudgetConfig('budgets.json'), store })`.
 */
export function loadBudgetConfig(path: string): BudgetFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail('TB_BUDGET_FILE', `Cannot read the budget file ${path}: ${(err as Error).message}.`);
  }
  try {
    return readBudgetFile(JSON.parse(text));
  } catch (err) {
    if (err instanceof SyntaxError) fail('TB_BUDGET_FILE', `${path} is not JSON: ${err.message}.`);
    if (err instanceof TokenBudgetConfigError) err.message = `${path}: ${err.message}`;
    throw err;
  }
}
