/**
 * Help text layout shared by every binary: descriptions are written as paragraphs (a single line break in the source
 * is only a line break of the source), so commander can wrap them at the terminal width without breaking a sentence
 * in the middle of a line. A paragraph whose lines start with whitespace (a table) is kept as written, its long
 * lines wrapped under their own indentation. The usage line and the text added after the options (exit codes,
 * notes) are wrapped the same way; words are never split.
 */
import { Help, type CommandUnknownOpts } from '@commander-js/extra-typings';

/** Join the lines of each paragraph (paragraphs are separated by a blank line); indented paragraphs stay. */
export function reflowParagraphs(text: string): string {
  return text
    .split(/\n[^\S\n]*\n/)
    .map((p) => (/\n[^\S\n]/.test(p) ? p : p.replace(/[^\S\n]*\n[^\S\n]*/g, ' ')))
    .join('\n\n');
}

/**
 * Wrap every line of `text` at `width` columns at spaces. A continuation line gets the indentation of its line
 * plus `hang` spaces; a word longer than the room stays whole on its own line.
 */
export function wrapLines(text: string, width: number, hang = 0): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= width) return line;
      const indent = /^\s*/.exec(line)?.[0] ?? '';
      const next = indent + ' '.repeat(hang);
      // each chunk keeps the spaces before its word, so the spacing inside a line (table columns) stays
      const chunks = line.slice(indent.length).match(/ *\S+/g) ?? [];
      const out: string[] = [];
      let cur = indent + (chunks.shift() ?? '');
      for (const chunk of chunks) {
        if (cur.length + chunk.length > width && cur.trim() !== '') {
          out.push(cur);
          cur = next + chunk.trimStart();
        } else cur += chunk;
      }
      out.push(cur);
      return out.join('\n');
    })
    .join('\n');
}

/** Reflow and wrap text printed after the help (leading and trailing blank lines kept). */
function layoutEpilog(text: string, width: number): string {
  const lead = /^\n*/.exec(text)?.[0] ?? '';
  const trail = /\n*$/.exec(text)?.[0] ?? '';
  const body = text.slice(lead.length, text.length - trail.length);
  return lead + wrapLines(reflowParagraphs(body), width) + trail;
}

interface HelpEventContext {
  readonly error: boolean;
  readonly command: CommandUnknownOpts;
  readonly write: (s: string) => void;
}

/** Fewest columns a description is wrapped in beside its term; with less room it goes under the term. */
const MIN_WIDTH_TO_WRAP = 20;

/**
 * Apply the layout to `program` and all its subcommands: reflowed descriptions, and the help width of the terminal
 * (else `$COLUMNS`, else commander's 80), for the descriptions, the usage line and the text after the options.
 */
export function configureHelpLayout(
  program: CommandUnknownOpts,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const columns = Number(env['COLUMNS']);
  const fallback = Number.isInteger(columns) && columns > 20 ? columns : undefined;
  const widthOf = (error: boolean): number => {
    const stream = error ? process.stderr : process.stdout;
    return (stream.isTTY ? stream.columns : undefined) ?? fallback ?? 80;
  };
  const apply = (cmd: CommandUnknownOpts): void => {
    cmd.configureHelp({
      commandDescription: (c) => reflowParagraphs(c.description()),
      subcommandDescription: (c) => reflowParagraphs(c.summary() || c.description()),
      minWidthToWrap: MIN_WIDTH_TO_WRAP,
      formatItem(this: Help, term: string, termWidth: number, description: string, helper: Help) {
        const width = this.helpWidth ?? 80;
        // too little room beside the terms: the description goes under its term instead
        if (
          description &&
          width - termWidth - 4 < MIN_WIDTH_TO_WRAP &&
          !helper.preformatted(description)
        )
          return `  ${term}\n${wrapLines(`${' '.repeat(8)}${description}`, width)}`;
        return Help.prototype.formatItem.call(this, term, termWidth, description, helper);
      },
      commandUsage(this: Help, c: CommandUnknownOpts): string {
        const usage = Help.prototype.commandUsage.call(this, c);
        // printed after "Usage: ": continuation lines start under the first argument (under the name when narrow)
        const width = this.helpWidth ?? 80;
        const underArgs = 'Usage: '.length + c.name().length + 1;
        const hang = width - underArgs >= 20 ? underArgs : 'Usage: '.length;
        return wrapLines(`Usage: ${usage}`, width, hang).slice('Usage: '.length);
      },
      ...(fallback === undefined || process.stdout.isTTY ? {} : { helpWidth: fallback }),
    });
    // text added with addHelpText('after', …) is printed as given: collect it and lay it out at the width
    const events = cmd as unknown as NodeJS.EventEmitter; // commander's Command is an EventEmitter
    const after = events.listeners('afterHelp') as ((context: HelpEventContext) => void)[];
    if (after.length > 0) {
      events.removeAllListeners('afterHelp');
      events.on('afterHelp', (context: HelpEventContext) => {
        let text = '';
        const collect = { ...context, write: (s: string) => void (text += s) };
        for (const listener of after) listener(collect);
        if (text !== '') context.write(layoutEpilog(text, widthOf(context.error)));
      });
    }
    for (const sub of cmd.commands) apply(sub);
  };
  apply(program);
}
