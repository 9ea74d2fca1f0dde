/**
 * Help text layout shared by every binary: descriptions are written as paragraphs (a single line break in the source
 * is only a line break of the source), so commander can wrap them at the terminal width without breaking a sentence
 * in the middle of a line. A paragraph whose lines start with whitespace (a table) is kept as written.
 */
import type { CommandUnknownOpts } from '@commander-js/extra-typings';

/** Join the lines of each paragraph (paragraphs are separated by a blank line); indented paragraphs stay. */
export function reflowParagraphs(text: string): string {
  return text
    .split(/\n[^\S\n]*\n/)
    .map((p) => (/\n[^\S\n]/.test(p) ? p : p.replace(/[^\S\n]*\n[^\S\n]*/g, ' ')))
    .join('\n\n');
}

/**
 * Apply the layout to `program` and all its subcommands: reflowed descriptions, and the help width of the terminal
 * (else `$COLUMNS`, else commander's 80).
 */
export function configureHelpLayout(
  program: CommandUnknownOpts,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const columns = Number(env['COLUMNS']);
  const fallback = Number.isInteger(columns) && columns > 20 ? columns : undefined;
  const apply = (cmd: CommandUnknownOpts): void => {
    cmd.configureHelp({
      commandDescription: (c) => reflowParagraphs(c.description()),
      subcommandDescription: (c) => reflowParagraphs(c.summary() || c.description()),
      ...(fallback === undefined || process.stdout.isTTY ? {} : { helpWidth: fallback }),
    });
    for (const sub of cmd.commands) apply(sub);
  };
  apply(program);
}
