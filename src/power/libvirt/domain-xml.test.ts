import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainBootDevice, setDomainBoot, summarizeDomain } from './domain-xml.js';

// Shape of `virsh dumpxml --inactive` on libvirt 9 (test driver).
const xml = `<domain type='test'>
  <name>node-b</name>
  <uuid>347792be-c931-49c1-951d-67b664131af6</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <os firmware='efi'>
    <type arch='x86_64'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='file' device='disk'><source file='/x.img'/><target dev='vda'/><boot order='1'/></disk>
    <interface type='network'><mac address='52:54:00:BB:00:01'/><source network='default'/></interface>
  </devices>
</domain>`;

describe('domain XML', () => {
  it('summarises name, uuid, MACs, firmware, vCPUs and memory', () => {
    assert.deepEqual(summarizeDomain(xml), {
      systemId: 'node-b',
      name: 'node-b',
      macs: ['52:54:00:bb:00:01'],
      firmware: 'uefi',
      uuid: '347792be-c931-49c1-951d-67b664131af6',
      cpuCount: 2,
      memoryMiB: 1024,
    });
  });
  it('sets network first, keeps disk as fallback, drops per-device boot order, keeps the rest', () => {
    const out = setDomainBoot(xml, 'network');
    assert.equal(domainBootDevice(out), 'network');
    assert.match(out, /<boot dev="network"\/>\s*<boot dev="hd"\/>/);
    assert.doesNotMatch(out, /order=/);
    assert.match(out, /<os firmware="efi">\s*<type arch="x86_64">hvm<\/type>/);
    assert.match(out, /<source file="\/x.img"\/>/);
    assert.equal(domainBootDevice(setDomainBoot(out, 'disk')), 'hd');
  });
});
