import { resolveHostPath } from '@podsec/core';
import { Command, tlsVerifyOption, type CliContext, type CliDefinition } from '@podsec/core/cli';
import { exitCodes, messages, printTrustShow } from './podsec-trust.fast.ts';

export { exitCodes };

// the trust library (openpgp, yaml) is loaded when an action runs, not for --help or a usage error
const trust = () => import('../trust/trust.ts');
const verify = () => import('./podsec-trust.verify.ts');

function createProgram(ctx: CliContext) {
  // host paths from the command line: one resolver (an empty or NUL-carrying path is refused)
  const abs = (p: string) => resolveHostPath(p);
  const program = new Command('podsec-trust').description(
    'Who signed this image, and will the policy accept it? Shows the containers policy that applies, verifies every\n' +
      'signature of an image (key, user id, creator, time, identity) and signs images into a lookaside store.',
  );
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  const withConfig = <A extends unknown[]>(c: Command<A, {}, {}>) =>
    c
      .option(
        '--policy <file>',
        'policy.json (a system path, under --root)',
        '/etc/containers/policy.json',
      )
      .option(
        '--registries-d <dir>',
        'registries.d directory (a system path, under --root)',
        '/etc/containers/registries.d',
      );
  withConfig(
    program
      .command('show')
      .description('the requirements of the policy, or those that apply to an image and why')
      .argument('[image]'),
  ).action((image, o) => printTrustShow(ctx, image, o.policy));
  withConfig(
    program
      .command('verify')
      .description('every signature of an image and the verdict of the policy')
      .argument('<image>'),
  )
    .option('--key <file...>', 'also recognise signers by these public key files')
    .option('--lookaside <url>', 'read signatures here instead of the registries.d location')
    .addOption(
      tlsVerifyOption(
        'bare or =true (default): HTTPS with a verified certificate; =false: as --insecure',
      ),
    )
    .option('--insecure', 'plain HTTP / unverified TLS to the registry (= --tls-verify=false)')
    .action(async (image, o) =>
      (await verify()).printTrustVerify(ctx, image, {
        policy: o.policy,
        registriesD: o.registriesD,
        keys: (o.key ?? []).map(abs),
        insecure: o.insecure === true || o.tlsVerify === false,
        ...(o.lookaside === undefined ? {} : { lookaside: o.lookaside }),
      }),
    );
  withConfig(
    program
      .command('sign')
      .description('sign an image in its registry into a file:// lookaside store')
      .argument('<image>'),
  )
    .requiredOption('--key <file>', 'armored OpenPGP private key')
    .option(
      '--passphrase-file <file>',
      'file holding the key passphrase (never give it on the command line)',
    )
    .option(
      '--lookaside <dir>',
      'file:// URL or directory (under --root) for the signature; default: registries.d lookaside-staging',
    )
    .option('--identity <ref>', 'docker reference to sign for (default: the image)')
    .addOption(
      tlsVerifyOption(
        'bare or =true (default): HTTPS with a verified certificate; =false: as --insecure',
      ),
    )
    .option('--insecure', 'plain HTTP / unverified TLS to the registry (= --tls-verify=false)')
    .action(async (image, o) => {
      const r = await (
        await trust()
      ).signTrust(ctx.system, image, {
        policy: o.policy,
        registriesD: o.registriesD,
        key: abs(o.key),
        insecure: o.insecure === true || o.tlsVerify === false,
        ...(o.passphraseFile === undefined ? {} : { passphraseFile: abs(o.passphraseFile) }),
        ...(o.lookaside === undefined ? {} : { lookaside: o.lookaside }),
        ...(o.identity === undefined ? {} : { identity: o.identity }),
      });
      ctx.system.report.result(
        `${r.dryRun === true ? 'would sign' : 'signed'} ${r.identity} (${r.digest}) with key ${r.keyFingerprint}: ${r.location}`,
        r,
      );
    });
  return program;
}

/** The podsec-trust binary. */
export const cli: CliDefinition = {
  name: 'podsec-trust',
  create: createProgram,
  exitCodes,
  messages,
};
