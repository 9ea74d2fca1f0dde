import { readRegistriesDTexts, type MergedRegistriesD } from '@podsec/core/config';
import type { System } from '@podsec/core/system';

/**
 * The `*.yaml` files of a registries.d directory (what containers/image reads), by name; none if the
 * directory is missing. A dangling symlink (a versioned file that was removed) is skipped.
 */
export async function readRegistriesDFiles(
  sys: System,
  dir: string,
): Promise<Array<{ name: string; text: string }>> {
  if ((await sys.fs.stat(dir))?.kind !== 'dir') return [];
  const files: Array<{ name: string; text: string }> = [];
  for (const name of (await sys.fs.readdir(dir)).filter((n) => n.endsWith('.yaml'))) {
    const text = await sys.fs.readTextIfExists(`${dir}/${name}`);
    if (text !== undefined) files.push({ name, text });
  }
  return files;
}

/**
 * A registries.d directory merged as containers/image merges it (a scope defined twice is an error); the YAML parser
 * is loaded only for a file that is not in the plain form.
 */
export async function readRegistriesD(sys: System, dir: string): Promise<MergedRegistriesD> {
  return readRegistriesDTexts(await readRegistriesDFiles(sys, dir));
}
