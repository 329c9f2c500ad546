// HTML built by a tagged template that escapes every interpolated value unless
// it is already `Html` (the result of another `html` template, or `trusted`).
// Host names, facts, syslog text and event messages are attacker-influenced:
// the only way to put text in a page is through this escaping.

/** Markup that is safe to send: built by `html` or explicitly `trusted`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** What a template may interpolate: text (escaped), numbers, markup, nothing, or lists of these. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const entities: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => entities[c]);
}

function render(v: HtmlValue): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** Tagged template: the literal parts are markup, every `${value}` is escaped (attributes must be quoted). */
export function html(parts: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = parts[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + parts[i + 1];
  return new Html(out);
}

/** Markup from Kiln's own code, never from input (an SVG path built from numbers). */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** A URL path segment (host names, profile names) for an href. */
export function seg(text: string): string {
  return encodeURIComponent(text);
}

/** A query string from the non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
