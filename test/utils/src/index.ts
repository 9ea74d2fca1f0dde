/** @podsec/test-utils: temp roots, scripted process runners and CLI helpers for tests. */
export { createTestSystem, writeTree, baseTree } from './test-system.ts';
export type { TestSystem, TestSystemOptions, Tree } from './test-system.ts';
export { FakeRunner } from './fake-runner.ts';
export type { FakeCall, FakeResponse } from './fake-runner.ts';
export { runBin, runBothPaths, runProgram } from './run-bin.ts';
export { execBytes } from './exec-bytes.ts';
export { freePort, startRegistry, writeSignedByPolicy } from './registry.ts';
export type { StartRegistryOptions, TestRegistry } from './registry.ts';
export { buildTinyImage, fetchManifest, MANIFEST_ACCEPT, writeOciArchive } from './image.ts';
export type {
  BuildTinyImageOptions,
  FetchedManifest,
  OciArchiveOptions,
  TinyImage,
} from './image.ts';
export { snapshotTree } from './snapshot.ts';
export { makeTestCert } from './tls.ts';
export type { TestCert } from './tls.ts';
export {
  k8sBinary,
  k8sBinDir,
  k8sVersion,
  requireCommand,
  requireCommands,
  whichCommand,
} from './requires.ts';
export { InjectedFault, isMutatingRun, withFaults } from './fault.ts';
export type { FaultOptions, FaultStep, FaultSystem } from './fault.ts';
export { crashEveryStep, liveView, runCrashChild, VERSIONED_NOISE } from './crash.ts';
export type {
  CrashChildOptions,
  CrashEveryStepOptions,
  CrashEveryStepResult,
  CrashRun,
  LiveViewOptions,
} from './crash.ts';
export { allowTun, lockTestUser, removeTestUser } from './userns.ts';
export { runWithBinds } from './binds.ts';
export type { Bind } from './binds.ts';
export { raceConfigSwap, requireAttackTools, runConfined, startSwapper } from './attack.ts';
export type { RaceConfigSwapOptions, RaceStats, Swapper } from './attack.ts';
export { CONTROL_PLANE_BINARIES, makeClientCsr, startControlPlane } from './control-plane.ts';
export type { ClientCsr, ControlPlane, ControlPlaneOptions } from './control-plane.ts';
export { buildTrivyTestImage, makeTrivyCache, trivyFixture } from './trivy.ts';
export type { TrivyFixture, TrivyFixtureAdvisory, TrivyFixturePackage } from './trivy.ts';
export {
  httpsStatus,
  startU7sControlPlane,
  U7S_BUNDLE,
  U7S_CONTROL_PLANE_BINARIES,
  U7S_KUBEADM_BUNDLE,
} from './u7s-control-plane.ts';
export type { U7sControlPlane, U7sControlPlaneOptions } from './u7s-control-plane.ts';
export { copyPackageForUsers } from './package-copy.ts';
export type { PackageCopy } from './package-copy.ts';
export { spawnZombie } from './zombie.ts';
export { runInPty } from './pty.ts';
export type { PtyResult, PtyStep } from './pty.ts';
