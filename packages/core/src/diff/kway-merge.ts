/**
 * Streaming merge of several address-sorted, non-overlapping record streams where a later
 * stream wins over an earlier one (inputs ordered oldest first, as wdiffs are merged).
 *
 * At each step: `pos` is the lowest address still to decide; the winner is the newest input
 * whose current record covers `pos`; it wins until its record ends or a newer input's next record
 * starts. A record is emitted only once no input can produce anything overlapping it, so the
 * merge streams with one record per input in memory.
 */
export interface MergeInput {
  /** Address (lb) of the current record; Infinity when the input is exhausted. */
  readonly address: number;
  readonly blocks: number;
  /** Moves to the next record. */
  next(): void;
}

/** Called for each output piece: which input, where, how long, and the offset into its record. */
export type MergeEmit = (input: number, address: number, blocks: number, skip: number) => void;

/** Pull form of the merge: call next() until it returns false; the fields describe the piece. */
export class KwayMerger {
  /** Input that wins the current piece. */
  input = -1;
  address = 0;
  blocks = 0;
  /** Offset (lb) of the piece inside the winning input's current record. */
  skip = 0;
  private pos = 0;

  constructor(private readonly inputs: readonly MergeInput[]) {}

  next(): boolean {
    const inputs = this.inputs;
    const k = inputs.length;
    let pos = this.pos;
    let minStart = Number.POSITIVE_INFINITY;
    for (let j = 0; j < k; j++) {
      const inp = inputs[j]!;
      while (inp.address + inp.blocks <= pos) inp.next();
      if (inp.address < minStart) minStart = inp.address;
    }
    if (minStart === Number.POSITIVE_INFINITY) return false;
    if (minStart > pos) pos = minStart;
    let w = k - 1;
    while (inputs[w]!.address > pos) w--;
    const win = inputs[w]!;
    let end = win.address + win.blocks;
    for (let j = w + 1; j < k; j++) {
      const a = inputs[j]!.address;
      if (a < end) end = a;
    }
    this.input = w;
    this.address = pos;
    this.blocks = end - pos;
    this.skip = pos - win.address;
    this.pos = end;
    return true;
  }
}

export function kwayMerge(inputs: readonly MergeInput[], emit: MergeEmit): void {
  const m = new KwayMerger(inputs);
  while (m.next()) emit(m.input, m.address, m.blocks, m.skip);
}
