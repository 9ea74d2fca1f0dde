import { UsageError } from '../errors.ts';
import { parseSubIds, validateName, type SubIdRange } from './users.ts';
import type { FileSystem } from './types.ts';

/** Which subordinate id file. */
export type SubIdFile = '/etc/subuid' | '/etc/subgid';

/** Options of {@link allocateSubIds}. */
export interface AllocateSubIdsOptions {
  /** @default 65536 */
  readonly count?: number;
  /** Lowest id handed out (SUB_UID_MIN of login.defs). @default 100000 */
  readonly min?: number;
  /** Highest id handed out (SUB_UID_MAX). @default 600100000 */
  readonly max?: number;
}

/** Result of {@link allocateSubIds}. */
export interface AllocateSubIdsResult {
  readonly range: SubIdRange;
  /** False when the owner already had a range (nothing written). */
  readonly created: boolean;
}

/**
 * Pure: the lowest free range of `count` ids in [min, max] that overlaps none of `taken`.
 * Throws `SUBID_EXHAUSTED` when there is none.
 */
export function planSubIdRange(
  taken: readonly SubIdRange[],
  count: number,
  min: number,
  max: number,
): number {
  const sorted = [...taken].sort((a, b) => a.start - b.start);
  let candidate = min;
  for (const r of sorted) {
    if (r.start + r.count <= candidate) continue;
    if (r.start >= candidate + count) break;
    candidate = r.start + r.count;
  }
  if (candidate + count - 1 > max) {
    throw new UsageError(
      'SUBID_EXHAUSTED',
      `no free range of ${count} subordinate ids below ${max}`,
    );
  }
  return candidate;
}

/**
 * Gives `owner` a range in /etc/subuid or /etc/subgid, under the file's lock, written atomically.
 * Idempotent: an owner that already has a range keeps it.
 */
export async function allocateSubIds(
  fs: FileSystem,
  owner: string,
  file: SubIdFile,
  options: AllocateSubIdsOptions = {},
): Promise<AllocateSubIdsResult> {
  validateName(owner);
  const count = options.count ?? 65536;
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError('SUBID_BAD_COUNT', `bad subordinate id count ${count}`);
  return fs.withLock(file, async () => {
    const text = (await fs.readTextIfExists(file)) ?? '';
    const ranges = parseSubIds(text);
    const mine = ranges.find((r) => r.owner === owner);
    if (mine) return { range: mine, created: false };
    const start = planSubIdRange(ranges, count, options.min ?? 100000, options.max ?? 600100000);
    const range = { owner, start, count };
    const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
    await fs.writeFileAtomic(file, `${body}${owner}:${start}:${count}\n`, { mode: 0o644 });
    return { range, created: true };
  });
}
