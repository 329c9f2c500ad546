/**
 * What `kiln serve --print-config` shows of a value: a URL's password (a PostgreSQL
 * `database-url`, for one) is replaced by `***`, everywhere in nested sections too.
 * Pure.
 */
export function redactCredentials(value: unknown): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map(redactCredentials);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactCredentials(v)]));
  return value;
}

function redactUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.password === '') return text;
  url.password = '***';
  return url.toString();
}
