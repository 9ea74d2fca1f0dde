/**
 * `@podsec/core/changes`: plans as data, applied by one engine. Planners return {@link Change} lists;
 * {@link applyChanges} validates the whole list, works out what is still needed and applies it (or, in
 * dry-run mode, only reports it). The report is the same list in both modes.
 */
export { applyChanges } from './apply.ts';
export type { ApplyChangesOptions } from './apply.ts';
export { changeTarget, validateChanges } from './validate.ts';
export {
  changeReportJson,
  changesMessages,
  formatChangeRecord,
  formatChangeReport,
} from './format.ts';
export type { ChangeTranslator } from './format.ts';
export type {
  Change,
  ChangeAction,
  ChangeKind,
  ChangeRecord,
  ChangeReport,
  DirChange,
  FileChange,
  GroupChange,
  OwnerRef,
  PasswordChange,
  RemoveChange,
  RenameChange,
  RunChange,
  SubIdsChange,
  SymlinkChange,
  UserChange,
  VersionedChange,
} from './types.ts';
