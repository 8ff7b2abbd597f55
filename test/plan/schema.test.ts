// The budget file's JSON Schema names exactly the data options of lib/types.ts: a new option without a schema entry fails here.
import path from 'node:path';
import ts from 'typescript';
import schema from '../../lib/plan/budget.schema.json';

const TYPES = path.resolve(__dirname, '../../lib/types.ts');

/** Schema definitions (and the root) ↔ the type whose options they describe. */
const SCHEMA_TYPES: Record<string, string> = {
  '': 'BudgetFile',
  feature: 'FeatureOptions',
  quota: 'BudgetFileQuota',
  globalTpm: 'BudgetFileGlobalTpm',
  costMeter: 'BudgetFileCostMeter',
  spike: 'SpikeOptions',
  webhook: 'AlertWebhookOptions',
  price: 'ModelPrice',
};

interface SchemaObject {
  properties?: Record<string, unknown>;
}

const program = ts.createProgram([TYPES], { strict: true, skipLibCheck: true, types: [] });
const checker = program.getTypeChecker();
const source = program.getSourceFile(TYPES)!;
const exported = new Map(
  checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return [symbol.name, checker.getDeclaredTypeOfSymbol(target)];
  }),
);

/** Whether a value of `type` can be written in JSON: a primitive, or an array or object with some; not a function, nor an object of methods (a Store). */
function isData(type: ts.Type, seen = new Set<ts.Type>()): boolean {
  if (type.isUnion()) return type.types.some((member) => isData(member, seen));
  if (type.flags & (ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike)) return true;
  if (!(type.flags & ts.TypeFlags.Object) || type.getCallSignatures().length > 0 || seen.has(type)) return false;
  seen.add(type);
  if (checker.isArrayType(type)) return isData(checker.getTypeArguments(type as ts.TypeReference)[0]!, seen);
  const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
  if (index) return isData(index.type, seen);
  const properties = checker.getPropertiesOfType(type);
  return properties.some((p) => isData(checker.getTypeOfSymbolAtLocation(p, source), seen));
}

function dataOptions(typeName: string): string[] {
  const type = exported.get(typeName);
  if (!type) throw new Error(`lib/types.ts exports no ${typeName}`);
  return checker
    .getPropertiesOfType(type)
    .filter((option) => isData(checker.getTypeOfSymbolAtLocation(option, source)))
    .map((option) => option.name)
    .sort();
}

const definitions = schema.definitions as Record<string, SchemaObject>;
const schemaOptions = (name: string) =>
  Object.keys((name === '' ? schema : definitions[name])!.properties ?? {})
    .filter((key) => key !== '$schema')
    .sort();

test.each(Object.entries(SCHEMA_TYPES))('schema %j names every data option of %s, and nothing else', (name, typeName) => {
  expect(schemaOptions(name)).toEqual(dataOptions(typeName));
});

test('every object the schema describes is held against a type', () => {
  const objects = Object.entries(definitions)
    .filter(([, definition]) => definition.properties !== undefined)
    .map(([name]) => name);
  expect(objects.sort()).toEqual(Object.keys(SCHEMA_TYPES).filter(Boolean).sort());
});

test('functions and the store stay out: they are not data', () => {
  expect(dataOptions('TokenBudgetOptions')).not.toEqual(expect.arrayContaining(['store']));
  expect(dataOptions('FeatureOptions')).not.toContain('messages');
  expect(dataOptions('FeatureOptions')).toContain('onExceed');
  expect(dataOptions('QuotaLimitOptions')).not.toContain('tier');
  expect(dataOptions('CostMeterOptions')).not.toContain('onAlert');
  expect(dataOptions('CostMeterOptions')).toContain('webhook');
});
