/** @type {import('jest').Config} */
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }];

const ESM_ONLY = '(jose|@kubernetes/client-node|openid-client|oauth4webapi)';

module.exports = {
  testEnvironment: 'node',
  // jose, @kubernetes/client-node and its OpenID client ship ES modules only: compile them to CommonJS like our sources.
  transform: { '^.+\\.ts$': swc, [`/node_modules/${ESM_ONLY}/.+\\.js$`]: swc },
  transformIgnorePatterns: [`/node_modules/(?!${ESM_ONLY}/)`],
  globalSetup: '<rootDir>/test/global-setup.ts',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Chaos and soak suites are slow and have their own npm script (npm run test:chaos).
  testPathIgnorePatterns: process.env.STRATA_CHAOS ? ['/node_modules/'] : ['/node_modules/', '<rootDir>/test/chaos/'],
  testTimeout: 120_000,
  // Each file starts its own Temporal dev server / moto on free ports; two cores fit two files at once.
  maxWorkers: 2,
};
