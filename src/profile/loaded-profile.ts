import type { Template } from 'liquidjs';
import type { Sandbox } from '../template/sandbox.js';
import type { LocateFn } from '../template/template-error.js';
import type { ProfileSpec } from './profile-schema.js';

/**
 * A profile that passed validation, with every template parsed and held in
 * memory. Immutable after `loadProfile` returns; rendering it is pure and
 * never touches the disk. Reload the directory to pick up edits.
 */
export interface LoadedProfile {
  readonly name: string;
  /** Absolute path of the profile directory (boot files are served from here). */
  readonly dir: string;
  /** How paths are shown in messages, e.g. `profiles/debian-12`. */
  readonly displayDir: string;
  readonly spec: ProfileSpec;
  readonly sandbox: Sandbox;
  /** Every template text by virtual path (what the sandbox reads): sent to the render worker, which parses it once per digest. */
  readonly sources: ReadonlyMap<string, string>;
  /** SHA-256 of `sources` (hex): changes exactly when a template, snippet or inline field changes. */
  readonly digest: string;
  /** Install files by served name (`preseed.cfg`), with the parsed template. */
  readonly files: ReadonlyMap<string, CompiledFile>;
  readonly boot: { kernel: CompiledFile; initrd: CompiledFile[]; cmdline: CompiledFile };
  /** Present for `kiln-image` profiles. */
  readonly image:
    { name: CompiledFile; url: CompiledFile | undefined; disk: CompiledFile; firmware: CompiledFile } | undefined;
  /** Regular files in the profile dir outside templates/scripts/snippets (boot files), relative paths. */
  readonly bootFiles: ReadonlySet<string>;
  /** Snippet names this profile overrides from `_snippets/`. */
  readonly overriddenSnippets: readonly string[];
  /** Maps a virtual template path and position to `file:line:col`. */
  readonly locate: LocateFn;
}

/** One parsed template and the virtual path its errors are reported against. */
export interface CompiledFile {
  readonly virtualPath: string;
  readonly templates: Template[];
}
