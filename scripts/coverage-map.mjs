// tap's coverage map (.taprc): every test file is measured against the
// packages' TypeScript sources, nothing else (not the tests, not
// node_modules). Code run from dist/ counts through its source maps.
export default () => ['packages/*/src/**/*.ts']
