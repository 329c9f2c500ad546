import { LineCounter, parseDocument, isMap, isNode, isPair, isScalar, type Document, type Node } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { ErrorIssue } from '../error/kiln-error.js';
import { ProfileSpecSchema, type ProfileSpec } from './profile-schema.js';

/** The outcome of parsing one `profile.yaml`: a spec when `issues` is empty. */
export interface ParsedProfileYaml {
  spec: ProfileSpec | undefined;
  issues: ErrorIssue[];
  /** `file:line:col` of the value at a JSON pointer (`/boot/cmdline`), or of the nearest parent. */
  locate(pointer: string): { path: string; line: number; col: number };
}

/** Splits a JSON pointer into keys (numbers for sequence indexes). */
function segmentsOf(pointer: string): Array<string | number> {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The YAML node for `segments`; for a key absent from its map, the key node itself when `wantKey`. */
function nodeAt(doc: Document, segments: Array<string | number>, wantKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < segments.length; i++) {
    if (!isNode(node)) return undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segments[i]));
      if (!pair) return node;
      if (wantKey && i === segments.length - 1 && isNode(pair.key)) return pair.key;
      node = pair.value ?? pair.key;
    } else if ('items' in node && Array.isArray((node as { items: unknown[] }).items)) {
      const next = (node as { items: unknown[] }).items[Number(segments[i])];
      if (!isNode(next)) return node;
      node = next;
    } else {
      return node;
    }
  }
  return isNode(node) ? node : undefined;
}

/**
 * Parses and validates `profile.yaml` text. Every issue's path is
 * `<displayPath>:<line>:<col>` (1-based): YAML syntax errors, unknown keys
 * (located at the key), wrong types and missing keys (at the parent).
 */
export function parseProfileYaml(text: string, displayPath: string): ParsedProfileYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { path: string; line: number; col: number } => {
    const { line, col } = lineCounter.linePos(offset);
    return { path: `${displayPath}:${line}:${col}`, line, col };
  };
  const locate = (pointer: string): { path: string; line: number; col: number } => {
    const node = nodeAt(doc, segmentsOf(pointer), false);
    // A quoted scalar's text starts after its quote; a block scalar's (| or >)
    // on the line after its indicator. Inline template columns count from there.
    let offset = node?.range?.[0] ?? 0;
    if (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')) offset += 1;
    if (isScalar(node) && (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL')) {
      const nl = text.indexOf('\n', offset);
      if (nl >= 0) offset = nl + 1 + (/^ */.exec(text.slice(nl + 1))?.[0].length ?? 0);
    }
    return at(offset);
  };
  const issues: ErrorIssue[] = doc.errors.map((e) => ({
    path: at(e.pos[0]).path,
    code: 'yaml_syntax',
    message: e.message.split('\n')[0] ?? e.message,
  }));
  if (issues.length > 0) return { spec: undefined, issues, locate };
  const value: unknown = doc.toJS();
  const seen = new Set<string>();
  for (const err of Value.Errors(ProfileSpecSchema, value)) {
    const unknownKey = err.type === ValueErrorType.ObjectAdditionalProperties;
    if (seen.has(err.path) || [...seen].some((p) => err.path.startsWith(`${p}/`))) continue;
    seen.add(err.path);
    const segs = segmentsOf(err.path);
    const node = nodeAt(doc, segs, unknownKey);
    const where = at(node?.range?.[0] ?? 0).path;
    const key = err.path === '' ? '(document)' : segs.join('.');
    issues.push(
      unknownKey
        ? { path: where, code: 'unknown_key', message: `unknown key "${key}"` }
        : err.type === ValueErrorType.ObjectRequiredProperty
          ? { path: where, code: 'missing_key', message: `missing required key "${key}"` }
          : { path: where, code: 'wrong_type', message: `${key}: ${err.message}` },
    );
  }
  return { spec: issues.length === 0 ? (value as ProfileSpec) : undefined, issues, locate };
}
