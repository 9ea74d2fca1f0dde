import type { Catalog } from '../i18n.ts';
import type { ChangeRecord, ChangeReport } from './types.ts';

/** Messages of the change report (merge into a binary's catalogue). */
export const changesMessages = {
  en: {
    CHANGES_INVALID: 'nothing changed: {problems}',
    'changes.none': 'Nothing to change',
    'changes.planned': 'Planned changes (nothing was changed):',
    'changes.applied': 'Changes made:',
    'changes.create': 'create',
    'changes.update': 'update',
    'changes.remove': 'remove',
    'changes.run': 'run',
    'changes.backup': 'previous content kept in {path}',
  },
  ru: {
    CHANGES_INVALID: 'ничего не изменено: {problems}',
    'changes.none': 'Изменять нечего',
    'changes.planned': 'Планируемые изменения (ничего не изменено):',
    'changes.applied': 'Внесённые изменения:',
    'changes.create': 'создать',
    'changes.update': 'изменить',
    'changes.remove': 'удалить',
    'changes.run': 'выполнить',
    'changes.backup': 'прежнее содержимое сохранено в {path}',
  },
} as const satisfies Catalog;

/** A translator as the CLI context offers it. */
export type ChangeTranslator = (key: string, params?: Readonly<Record<string, unknown>>) => string;

const english: ChangeTranslator = (key, params) => {
  const t = (changesMessages.en as Record<string, string>)[key] ?? key;
  return t.replace(/\{([A-Za-z0-9_]+)\}/g, (m, k: string) =>
    params && k in params ? String(params[k]) : m,
  );
};

/** One report line: `create dir /var/sigstore/keys (0755 0:0)`. */
export function formatChangeRecord(r: ChangeRecord, t: ChangeTranslator = english): string {
  return `${t(`changes.${r.action}`)} ${r.kind} ${r.target}${r.detail ? ` (${r.detail})` : ''}`;
}

/** The text report: a header, one indented line per change, the backups made. */
export function formatChangeReport(report: ChangeReport, t: ChangeTranslator = english): string[] {
  if (!report.changed) return [t('changes.none')];
  return [
    t(report.dryRun ? 'changes.planned' : 'changes.applied'),
    ...report.changes.map((r) => `  ${formatChangeRecord(r, t)}`),
    ...report.backups.map((b) => `  ${t('changes.backup', { path: b })}`),
  ];
}

/** The `--json` form of a report (the same object for the dry and the real run, apart from `dryRun`/`backups`). */
export function changeReportJson(report: ChangeReport): {
  dryRun: boolean;
  changed: boolean;
  changes: ChangeRecord[];
  unchanged: number;
  backups: string[];
  warnings: string[];
} {
  return {
    dryRun: report.dryRun,
    changed: report.changed,
    changes: [...report.changes],
    unchanged: report.unchanged,
    backups: [...report.backups],
    warnings: [...report.warnings],
  };
}
