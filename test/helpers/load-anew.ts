// A module loaded anew inside the test that asks for it, for modules whose tables are built as they load.

/**
 * What `load` requires, from a module registry of its own. A mutation run (Stryker) sees a change to a table
 * built at load time only in a test during which the module loads: a test of such a table loads it with this.
 */
export function loadAnew<T>(load: () => T): T {
  let loaded: { module: T } | undefined;
  jest.isolateModules(() => {
    loaded = { module: load() };
  });
  return loaded!.module;
}
