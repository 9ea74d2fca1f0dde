export type {
  DirEntryRead,
  DirEntryReader,
  FileStat,
  FileSystem,
  PinnedEntry,
  HostInfo,
  Logger,
  LogPriority,
  ReadOptions,
  ProcessResult,
  ProcessRunner,
  Reporter,
  RunAs,
  RunOptions,
  System,
  WriteOptions,
  WriteResult,
} from './types.ts';
export { createRootFs, formatBackupStamp } from './node-fs.ts';
export { readSecretFile, resolveHostPath } from './secret.ts';
export type { ReadSecretOptions } from './secret.ts';
export type { RootFsOptions } from './node-fs.ts';
export { createProcessRunner, runOrThrow } from './process.ts';
export { createUserDatabase, parseGroup, parsePasswd, parseSubIds, validateName } from './users.ts';
export type { AddUserOptions, GroupEntry, PasswdEntry, SubIdRange, UserDatabase } from './users.ts';
export { allocateSubIds, planSubIdRange } from './subid.ts';
export type { AllocateSubIdsOptions, AllocateSubIdsResult, SubIdFile } from './subid.ts';
export { createMemoryLogger, createSyslogLogger } from './logger.ts';
export { createMemoryReporter, createStreamReporter } from './reporter.ts';
export type { ReporterStreams, StreamReporterOptions } from './reporter.ts';
export { createNodeSystem } from './node-system.ts';
export type { NodeSystemOptions } from './node-system.ts';
export {
  createHttpClient,
  findFreePort,
  HttpError,
  httpRequest,
  normalizeFingerprint,
} from './http.ts';
export type {
  BoundedFetch,
  HttpBodyStream,
  HttpClient,
  HttpRequestOptions,
  HttpResponse,
} from './http.ts';
export { createDaemonLauncher, planRunAs, waitUntil } from './daemon.ts';
export type {
  Daemon,
  DaemonEvent,
  DaemonExit,
  DaemonLauncher,
  DaemonSpec,
  RestartPolicy,
  RunAsUser,
} from './daemon.ts';
export {
  installSignalCleanup,
  makeTempDir,
  onSignalCleanup,
  removeOnSignal,
  runSignalCleanup,
} from './temp.ts';
export type { TempDir } from './temp.ts';
export { startStreamingProcess } from './stream.ts';
export type { StreamingExit, StreamingOptions, StreamingProcess } from './stream.ts';
export { createArchiveHost } from './archive-host.ts';
export {
  DEFAULT_MAX_ARCHIVE_SIZE,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_RATIO,
  diskSink,
  extractArchive,
  packArchive,
  planMemberPath,
  readArchive,
} from './archive.ts';
export type {
  ArchiveHost,
  ArchiveSink,
  ExtractLimits,
  ExtractOptions,
  ExtractResult,
  HostEntry,
  InspectMember,
  OutputFile,
  PackOptions,
  ReadArchiveOptions,
  XzReader,
  XzWriter,
} from './archive.ts';
export { formatTarHeader, readTar, TarFormatError, tarEnd, tarPadding } from './tar.ts';
export type { ReadTarOptions, TarEntry, TarEntryType, TarWriteEntry } from './tar.ts';
