export * from './errors.js';
export * from './format/constants.js';
export * from './format/binary.js';
export * from './format/checksum.js';
