import { PodsecError, UsageError } from './errors.ts';
import { escapeForTerminal } from './util.ts';

/** CPU architectures podsec knows (image platform names). */
export const ARCHITECTURES = ['amd64', 'arm64', 'arm', 'ppc64le', '386'] as const;
/** One of {@link ARCHITECTURES}. */
export type Architecture = (typeof ARCHITECTURES)[number];

/** Where the platform came from. */
export type PlatformSource = 'U7S_PLATFORM' | 'ALT_BRANCH_ID' | 'CPE_NAME';

/** Result of {@link planPlatform}. */
export interface PlatformInfo {
  /** Image-name prefix of the distribution branch: c10f, p10, p11, sisyphus ... */
  readonly platform: string;
  readonly source: PlatformSource;
}

/**
 * Parses os-release(5) as data (the original sources it into the shell, clobbering NAME, ID ...):
 * `KEY=value`, values optionally in single or double quotes with shell escapes.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"'))
      v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    else if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

/**
 * The platform as `podsec-get-platform` determines it: a preset `U7S_PLATFORM` wins; else `ALT_BRANCH_ID`
 * (`c10f*` -> `c10f`, otherwise verbatim); else `CPE_NAME` (`spserver` -> `c10f`, `sisyphus`, else
 * `p<major>`). Throws `PLATFORM_UNKNOWN` where the original would yield the useless `p`.
 */
export function planPlatform(
  osRelease: Readonly<Record<string, string>> | undefined,
  preset?: string,
): PlatformInfo {
  const info = findPlatform(osRelease, preset);
  // the value becomes a path component of image names (registry.local/<platform>/...) and of files
  if (!PLATFORM_NAME.test(info.platform)) {
    const shown = escapeForTerminal(info.platform);
    throw new UsageError(
      'PLATFORM_INVALID',
      `invalid platform "${shown}" from ${info.source === 'U7S_PLATFORM' ? 'U7S_PLATFORM' : '/etc/os-release'}`,
      { details: { platform: shown, source: info.source } },
    );
  }
  return info;
}

/** A docker path component, at most 64 characters: `c10f`, `p11`, `sisyphus`. */
const PLATFORM_NAME = /^(?=.{1,64}$)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

function findPlatform(
  osRelease: Readonly<Record<string, string>> | undefined,
  preset?: string,
): PlatformInfo {
  if (preset) return { platform: preset, source: 'U7S_PLATFORM' };
  if (!osRelease) {
    throw new PodsecError(
      'PLATFORM_UNKNOWN',
      'cannot determine the platform: /etc/os-release is missing',
      {
        details: { reason: '/etc/os-release is missing' },
      },
    );
  }
  const branch = osRelease['ALT_BRANCH_ID'];
  if (branch)
    return { platform: branch.startsWith('c10f') ? 'c10f' : branch, source: 'ALT_BRANCH_ID' };
  const cpe = (osRelease['CPE_NAME'] ?? '').split(':');
  const product = cpe[3];
  const major = (cpe[4] ?? '').split('.')[0] ?? '';
  if (product === 'spserver') return { platform: 'c10f', source: 'CPE_NAME' };
  if (product === 'sisyphus') return { platform: 'sisyphus', source: 'CPE_NAME' };
  if (product && /^[0-9]+$/.test(major)) return { platform: `p${major}`, source: 'CPE_NAME' };
  const reason = 'neither ALT_BRANCH_ID nor a usable CPE_NAME in /etc/os-release';
  throw new PodsecError('PLATFORM_UNKNOWN', `cannot determine the platform: ${reason}`, {
    details: { reason },
  });
}

/** Maps `uname -m` or Node's `process.arch` to the image architecture name; throws `PLATFORM_ARCH_UNSUPPORTED`. */
export function mapArchitecture(machine: string): Architecture {
  const m = machine.trim();
  if (m === 'x86_64' || m === 'x64' || m === 'amd64') return 'amd64';
  if (m === 'aarch64' || m === 'arm64') return 'arm64';
  if (m === 'arm' || /^armv[5-8]/.test(m)) return 'arm';
  if (m === 'ppc64le' || m === 'ppc64') return 'ppc64le';
  if (/^i[3-6]86$/.test(m) || m === 'ia32' || m === 'x86' || m === '386') return '386';
  throw new PodsecError('PLATFORM_ARCH_UNSUPPORTED', `unsupported CPU architecture "${m}"`, {
    details: { machine: m },
  });
}

/** True for one of {@link ARCHITECTURES}. */
export function isArchitecture(s: string): s is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(s);
}
