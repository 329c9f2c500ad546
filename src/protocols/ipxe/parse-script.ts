// A model of how iPXE reads a script, after src/image/script.c
// (process_script: `\` continuations, trailing CR, `:label`) and
// src/core/exec.c (split_command on isspace, command_terminator: `&&`, `||`,
// `;`, and a word starting with `#` as a comment). Settings are not
// expanded: a word holding `${…}` is flagged instead, because iPXE would
// replace it with a value Kiln does not control. Pure; used by the tests to
// check that every formatter's output is exactly the commands it means.

/** One command of a line and how the next command of the same line runs. */
export interface IpxeCommand {
  argv: string[];
  /** `&&`: next runs on success, `||`: on failure, `;`: always, null: no next command on this line. */
  then: '&&' | '||' | ';' | null;
}

/** One logical line (continuations joined): its label, its commands and whether a comment ended it. */
export interface IpxeLine {
  label: string | null;
  commands: IpxeCommand[];
  comment: string | null;
}

/** iPXE's isspace (src/core/ctype.c). */
const isSpace = (c: string): boolean => c === ' ' || c === '\f' || c === '\n' || c === '\r' || c === '\t' || c === '\v';

/** The words of a command line as split_command makes them. */
export function splitIpxeWords(command: string): string[] {
  const words: string[] = [];
  let word = '';
  for (const c of command) {
    if (isSpace(c)) {
      if (word) words.push(word);
      word = '';
    } else {
      word += c;
    }
  }
  if (word) words.push(word);
  return words;
}

/** True when iPXE would expand something in `word` (a `${` with a `}` after it). */
export function expandsInIpxe(word: string): boolean {
  const start = word.indexOf('${');
  return start >= 0 && word.indexOf('}', start + 2) >= 0;
}

/** Parses a script the way iPXE reads it. NUL ends a line's text, as in C. */
export function parseIpxeScript(text: string): IpxeLine[] {
  const lines: IpxeLine[] = [];
  const fragments = text.split('\n');
  // A script that ends with a newline has no line after it (script_offset reaches len).
  if (fragments.length > 1 && fragments[fragments.length - 1] === '') fragments.pop();
  let pending = '';
  for (const fragment of fragments) {
    let line = pending + fragment;
    pending = '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.endsWith('\\')) {
      pending = line.slice(0, -1);
      continue;
    }
    const nul = line.indexOf('\0');
    if (nul >= 0) line = line.slice(0, nul);
    let command = line.replace(/^[ \f\n\r\t\v]+/, '');
    let label: string | null = null;
    if (command.startsWith(':')) {
      const m = /^:([^ \f\n\r\t\v]*)[ \f\n\r\t\v]?/.exec(command)!;
      label = m[1]!;
      command = command.slice(m[0].length);
    }
    lines.push({ label, ...splitCommands(splitIpxeWords(command)) });
  }
  // A continuation on the last line is never run (process_script's loop ends first).
  return lines;
}

function splitCommands(words: string[]): { commands: IpxeCommand[]; comment: string | null } {
  const commands: IpxeCommand[] = [];
  let argv: string[] = [];
  let comment: string | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w.startsWith('#')) {
      comment = words.slice(i).join(' ');
      break;
    }
    if (w === '&&' || w === '||' || w === ';') {
      commands.push({ argv, then: w });
      argv = [];
      continue;
    }
    argv.push(w);
  }
  // An empty last command (nothing after the last separator) does nothing in iPXE.
  if (argv.length > 0) commands.push({ argv, then: null });
  return { commands, comment };
}
