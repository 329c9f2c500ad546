// Test and bench support: the simulated fleet's iPXE. It runs the scripts Kiln
// serves the way iPXE reads them (the reader model, src/protocols/ipxe/parse-script.ts):
// line by line, `||` runs the next command only when the previous failed,
// `goto` jumps to a label, `chain --replace` replaces the running script with
// the one it fetched, `kernel`/`initrd` fetch an image (a failed fetch fails
// the command), `imgfree` forgets them, `boot` starts the last kernel, `sleep`
// sleeps. So the machines fail over between controllers exactly as far as
// Kiln's scripts tell them to (docs/cluster.md, "One address for machines"),
// and nothing more. Settings Kiln leaves for iPXE to fill in (${net0/mac},
// ${uuid}, ${buildarch}, ${platform}) are expanded from the machine's own
// values. Bounded: at most `maxCommands` commands per run.
import { parseIpxeScript, type IpxeLine } from '../../src/protocols/ipxe/parse-script.js';

/** What the machine's iPXE does on the network; each call throws when the fetch fails. */
export interface IpxeHost {
  /** GET a script; its text. */
  fetchScript(url: string): Promise<string>;
  /** GET a kernel or initrd image (its bytes are counted by the caller). */
  fetchImage(url: string): Promise<void>;
  /** Called for every script fetched by `chain`; `stop` ends the run there (the caller handles that script). */
  onChained?(url: string, text: string): 'run' | 'stop';
  sleep(seconds: number): Promise<void>;
}

/** How a run ended: a kernel booted (with its command line), a script the caller takes over, or a failure. */
export type IpxeRunResult =
  | { kind: 'booted'; kernel: string; cmdline: string[] }
  | { kind: 'stopped'; url: string; text: string }
  | { kind: 'failed'; why: string };

/** iPXE's settings in a script, as the machine fills them in (values URI-encoded, as iPXE's uri_encode does). */
export function expandIpxeSettings(word: string, settings: Record<string, string>): string {
  return word.replace(/\$\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(settings[name] ?? ''));
}

/** Runs `text` (fetched from `url`) as iPXE would, until a kernel boots, the host stops it, or it fails. */
export async function runIpxeScript(
  host: IpxeHost,
  url: string,
  text: string,
  settings: Record<string, string>,
  maxCommands = 200,
): Promise<IpxeRunResult> {
  let lines: IpxeLine[] = parseIpxeScript(text);
  let kernel: { url: string; cmdline: string[] } | null = null;
  let pc = 0;
  let budget = maxCommands;
  while (pc < lines.length) {
    const line = lines[pc++]!;
    let ok = true;
    let jumped = false;
    for (let c = 0; c < line.commands.length; c++) {
      const prev = c > 0 ? line.commands[c - 1]!.then : null;
      if (prev === '||' && ok) continue;
      if (prev === '&&' && !ok) continue;
      if (--budget < 0) return { kind: 'failed', why: `script ran more than ${maxCommands} commands` };
      const argv = line.commands[c]!.argv.map((w) => expandIpxeSettings(w, settings));
      const cmd = argv[0];
      const args = argv.slice(1).filter((a) => !a.startsWith('--'));
      try {
        if (cmd === 'echo' || cmd === '#!ipxe') ok = true;
        else if (cmd === 'sleep') await host.sleep(Number(args[0] ?? 1));
        else if (cmd === 'imgfree') kernel = null;
        else if (cmd === 'goto') {
          const at = lines.findIndex((l) => l.label === args[0]);
          if (at < 0) throw new Error(`no label ${args[0]}`);
          pc = at;
          jumped = true;
          break;
        } else if (cmd === 'chain') {
          const next = args[0]!;
          const got = await host.fetchScript(next);
          if (host.onChained?.(next, got) === 'stop') return { kind: 'stopped', url: next, text: got };
          lines = parseIpxeScript(got);
          pc = 0;
          jumped = true;
          break;
        } else if (cmd === 'kernel') {
          await host.fetchImage(args[0]!);
          kernel = { url: args[0]!, cmdline: argv.slice(2) };
        } else if (cmd === 'initrd') {
          // `initrd --name <name> <url>`: the URL is the last word.
          await host.fetchImage(argv[argv.length - 1]!);
        } else if (cmd === 'boot') {
          if (!kernel) throw new Error('boot without a kernel');
          return { kind: 'booted', kernel: kernel.url, cmdline: kernel.cmdline };
        } else if (cmd !== undefined) throw new Error(`the simulated iPXE does not run "${cmd}"`);
        ok = true;
      } catch (err) {
        if (/does not run/.test((err as Error).message)) return { kind: 'failed', why: (err as Error).message };
        ok = false;
      }
    }
    if (jumped) continue;
    // A line whose last command failed with nothing after it to catch it ends the script (iPXE: the script fails).
    if (!ok && line.commands.length > 0) return { kind: 'failed', why: `line "${lineText(line)}" failed` };
  }
  return { kind: 'failed', why: 'the script ended without booting' };
}

const lineText = (l: IpxeLine): string =>
  l.commands.map((c) => [...c.argv, ...(c.then ? [c.then] : [])].join(' ')).join(' ');
