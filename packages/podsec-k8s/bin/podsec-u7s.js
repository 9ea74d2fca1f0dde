#!/usr/bin/env node
import { runCli } from '@podsec/core/cli';
import { cli } from '../dist/cli/podsec-u7s.js';
process.exitCode = await runCli(cli, process.argv.slice(2));
