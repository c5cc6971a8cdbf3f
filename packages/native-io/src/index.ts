/**
 * @blockwal/native-io: the native seam. STUB: pure-JS only until the addon lands.
 * The public surface of this module is the contract the rest of blockwal codes against.
 */
export { walbChecksum, isAllZero } from './checksum-js.js';
