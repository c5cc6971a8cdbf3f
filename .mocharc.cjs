// Tests import the workspace packages by name; the "blockwal-source" export condition makes
// them load the TypeScript sources (through tsx) instead of the built dist/ files.
module.exports = {
  'node-option': ['conditions=blockwal-source', 'import=tsx'],
  timeout: 120000,
  reporter: 'dot',
};
