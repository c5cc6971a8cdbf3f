export * from './nbd/export.js';
