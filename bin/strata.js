#!/usr/bin/env node
// `strata` (package.json "bin"): the TypeScript CLI run through tsx, so `npx strata …` works in a checkout
// without a build step.
/* global require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS entry point registering tsx before loading TS */
require('tsx/cjs');
require('../src/cli/main.ts').runCli();
