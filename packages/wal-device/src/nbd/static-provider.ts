/**
 * The simplest NbdExportProvider: a fixed or mutable set of exports held in a map, listed in
 * insertion order.
 */
import type { NbdExport, NbdExportProvider } from './export.js';

export class StaticExportProvider implements NbdExportProvider {
  private readonly exports = new Map<string, NbdExport>();

  constructor(exports: Iterable<NbdExport> = []) {
    for (const e of exports) this.add(e);
  }

  add(exp: NbdExport): void {
    if (this.exports.has(exp.name)) throw new Error(`export ${exp.name} already exists`);
    this.exports.set(exp.name, exp);
  }

  /** Removes an export from the list; connections already using it keep it. */
  remove(name: string): boolean {
    return this.exports.delete(name);
  }

  list(): string[] {
    return [...this.exports.keys()];
  }

  get(name: string): NbdExport | undefined {
    return this.exports.get(name);
  }
}
