// Test helper run inside a test namespace (`ip netns exec … node --import tsx`):
// sends one Wake-on-LAN through the real driver. Args: mac broadcast port.
import { createWolDriver } from '../wol-driver.js';

const [mac, broadcast, port] = process.argv.slice(2);
const d = createWolDriver({ driver: 'wol', address: mac, options: { broadcast, port: Number(port), repeat: 2 } });
await d.setPower('on');
await d.close();
