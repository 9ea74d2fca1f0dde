/** @podsec/test-utils: temp roots, scripted process runners and CLI helpers for tests. */
export { createTestSystem, writeTree, baseTree } from './test-system.ts';
export type { TestSystem, TestSystemOptions, Tree } from './test-system.ts';
export { FakeRunner } from './fake-runner.ts';
export type { FakeCall, FakeResponse } from './fake-runner.ts';
export { runBin, runProgram } from './run-bin.ts';
