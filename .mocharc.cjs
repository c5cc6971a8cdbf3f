// Tests import the workspace packages by name; the "blockwal-source" export condition makes
// them load the TypeScript sources (through tsx) instead of the built dist/ files.
// BLOCKWAL_TEST_STRICT=1 (set by .ci/run) makes any skipped test a failure: every test guards
// itself against a missing tool (qemu-io, nbdfuse, openssl, root...), and CI must run them all.
// The pure-JS fallback runs (BLOCKWAL_NATIVE=0, child mocha runs of the native-io tests) skip the
// native-only tests on purpose.
module.exports = {
  'node-option': ['conditions=blockwal-source', 'import=tsx'],
  'forbid-pending': process.env.BLOCKWAL_TEST_STRICT === '1' && process.env.BLOCKWAL_NATIVE !== '0',
  timeout: 120000,
  reporter: 'dot',
};
