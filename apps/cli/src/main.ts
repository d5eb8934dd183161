#!/usr/bin/env node
/**
 * The `herd` command. Environment variables and flags are read here (and in cli.ts, which gets them
 * passed in); the exit status is set here only.
 */
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
