import type { Template } from 'liquidjs';
import type { ErrorIssue } from '../error/kiln-error.js';
import { knownContextKeys } from './render-context.js';
import { isFlatName } from './memory-fs.js';
import type { Sandbox } from './sandbox.js';
import type { LocateFn } from './template-error.js';

/** A `{% include %}`/`{% render %}`/`{% layout %}` found in a template. */
export interface PartialRef {
  /** The literal snippet name, or null when the name is an expression. */
  name: string | null;
  file: string | undefined;
  line: number;
  col: number;
}

interface TagLike {
  name?: string;
  token?: { file?: string; getPosition?: () => [number, number] };
  file?: unknown;
  children?: (partials: boolean, sync: boolean) => Generator<unknown, Template[]>;
}

/** Runs a liquidjs sync generator to completion and returns its value. */
function drain<T>(gen: Generator<unknown, T>): T {
  let step = gen.next();
  while (!step.done) step = gen.next(step.value);
  return step.value;
}

/** Every partial reference in `templates`, including inside blocks (not inside the partials). */
export function collectPartialRefs(templates: Template[]): PartialRef[] {
  const refs: PartialRef[] = [];
  const visit = (list: Template[]): void => {
    for (const t of list as unknown as TagLike[]) {
      if (t.name === 'include' || t.name === 'render' || t.name === 'layout') {
        const [line, col] = t.token?.getPosition?.() ?? [1, 1];
        refs.push({ name: typeof t.file === 'string' ? t.file : null, file: t.token?.file, line, col });
        continue;
      }
      if (typeof t.children === 'function') visit(drain(t.children(false, true)));
    }
  };
  visit(templates);
  return refs;
}

/**
 * Checks that every partial reference is a literal flat name that exists in
 * the profile's snippets or the shared snippets.
 */
export function checkPartials(
  templates: Template[],
  snippetExists: (name: string) => boolean,
  fallbackFile: string,
  locate: LocateFn,
): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  for (const ref of collectPartialRefs(templates)) {
    const path = locate(ref.file ?? fallbackFile, ref.line, ref.col);
    if (ref.name === null) {
      issues.push({
        path,
        code: 'dynamic_snippet',
        message: 'snippet names must be quoted literals so they can be checked when the profile loads',
      });
    } else if (!isFlatName(ref.name)) {
      issues.push({
        path,
        code: 'forbidden_path',
        message: `snippet "${ref.name}" is a path; only names from snippets/ or _snippets/ are allowed`,
      });
    } else if (!snippetExists(ref.name)) {
      issues.push({
        path,
        code: 'snippet_not_found',
        message: `snippet "${ref.name}" exists neither in the profile's snippets/ nor in _snippets/`,
      });
    }
  }
  return issues;
}

/**
 * Statically checks the context variables `templates` (and their snippets)
 * read: the root must be a context key and, where the key is closed
 * (`host`, `profile`, `site`, `kiln`), the second name must be known or, for
 * `profile`, a declared variable. Call only after `checkPartials` passed.
 */
export function checkVariables(
  sandbox: Sandbox,
  templates: Template[],
  declared: ReadonlySet<string>,
  fallbackFile: string,
  locate: LocateFn,
): ErrorIssue[] {
  const analysis = sandbox.liquid.analyzeSync(templates, { partials: true });
  const issues: ErrorIssue[] = [];
  const seen = new Set<string>();
  for (const [root, uses] of Object.entries(analysis.globals)) {
    for (const use of uses) {
      const second = use.segments[1];
      const problem = variableProblem(root, typeof second === 'string' ? second : undefined, declared);
      if (problem === null) continue;
      const path = locate(use.location.file ?? fallbackFile, use.location.row, use.location.col);
      const key = `${path} ${problem}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({ path, code: 'unknown_variable', message: problem });
    }
  }
  return issues;
}

/** Why `root.second` is not a known variable, or null when it is. */
function variableProblem(root: string, second: string | undefined, declared: ReadonlySet<string>): string | null {
  if (!Object.hasOwn(knownContextKeys, root)) {
    return `unknown variable "${root}": the context has ${Object.keys(knownContextKeys).join(', ')}; profile variables are read as profile.<name>`;
  }
  const allowed = knownContextKeys[root];
  if (allowed === null || second === undefined || allowed.has(second)) return null;
  if (root === 'profile' && declared.has(second)) return null;
  if (root === 'profile') return `unknown variable "profile.${second}": declare it under variables: in profile.yaml`;
  return `unknown variable "${root}.${second}": ${root} has ${[...allowed].join(', ')}`;
}
