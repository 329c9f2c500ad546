// Test fixture (fast-check arbitraries), not shipped code.
import fc from 'fast-check';

/**
 * Strings an attacker would try: iPXE's separators, comment and expansion
 * syntax, every kind of whitespace and line break, backslashes, plus
 * arbitrary Unicode (lone surrogates included).
 */
export const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .array(
      fc.constantFrom(
        '&&',
        '||',
        ';',
        '#',
        '#!ipxe',
        '${',
        '}',
        '$',
        '{',
        '\\',
        '\n',
        '\r',
        '\r\n',
        ' ',
        '\t',
        '\v',
        '\f',
        '\0',
        '\u0085',
        '\u009b',
        '\u2028',
        ':failed',
        'chain',
        '--replace',
        'http://evil.test/x.ipxe',
        'goto',
        'boot',
        'shell',
        '${net0/mac}',
        'disk',
        'error',
        '-n',
      ),
      { maxLength: 24 },
    )
    .map((a) => a.join('')),
  fc
    .array(fc.constantFrom('&&', '||', ';', '#x', 'chain', 'http://evil.test/x.ipxe', 'a\\'), { maxLength: 8 })
    .map((a) => a.join(' ')),
);
