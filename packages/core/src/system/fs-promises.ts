import type * as FsPromises from 'node:fs/promises';

/**
 * node:fs/promises, loaded on first use (a write, a lock, a temporary directory, a /proc sweep): loading it brings
 * the FileHandle, readline and watcher machinery behind it, and the walk and reads of the rooted file system do
 * without it (synchronous calls, see node-fs.ts), so a read-only command such as `podsec-trust verify` never loads it.
 */
export const fsPromises = (): typeof FsPromises => process.getBuiltinModule('node:fs/promises');
