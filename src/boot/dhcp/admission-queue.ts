import { DhcpMessageType } from '../../protocols/dhcp4/codes.js';

/**
 * Admission control of the DHCP server: datagrams wait here between the
 * socket and the handler, so the server reads its sockets quickly (the kernel
 * buffer drains, instead of aging a burst) and chooses what to answer when it
 * cannot answer everything. Pure: the caller passes the time.
 *
 * Two classes, each first in, first out:
 * - `complete`: REQUEST, DECLINE, RELEASE, INFORM. A REQUEST completes a
 *   client already in flight (it holds an offer), so it goes first.
 * - `new`: DISCOVER, and anything whose type is unknown before decoding.
 *
 * The queue holds at most `capacity` datagrams. When full, the oldest `new`
 * one is shed to make room; with no `new` one queued, an arriving `new` is
 * shed, and an arriving `complete` sheds the oldest `complete`. A datagram
 * older than its class's `maxAgeMs` when its turn comes is shed as
 * `expired`: the client has retransmitted or given up by then. Memory is
 * bounded by `capacity` whatever the offered rate.
 */
export type AdmissionClass = 'complete' | 'new';

/** Why a datagram was not handled: the queue was full, or it waited past its class's age limit. */
export type ShedReason = 'full' | 'expired';

export interface AdmissionLimits {
  /** Most datagrams waiting, both classes together (at least 1). */
  capacity: number;
  /** Oldest a datagram of each class may be when its turn comes (ms). */
  maxAgeMs: Record<AdmissionClass, number>;
}

export interface AdmissionQueue<T> {
  /** Queues `item` of class `cls` arrived at `now` (ms). Returns the item shed to make room, if any (possibly `item` itself). */
  push(item: T, cls: AdmissionClass, now: number): { item: T; cls: AdmissionClass } | undefined;
  /**
   * The next item to handle at `now`: `complete` before `new`, oldest first; expired items are shed on the way
   * (`onShed`). `only` restricts it to one class (the server takes only DISCOVERs while its REQUESTs' commits are at their bound).
   */
  take(now: number, only?: AdmissionClass): T | undefined;
  /** Items of `cls` waiting now. */
  sizeOf(cls: AdmissionClass): number;
  readonly size: number;
}

/** A first-in, first-out ring of items with their arrival time (two parallel arrays: no wrapper object per item); grows by doubling up to the queue's capacity. */
class Fifo<T> {
  private items: Array<T | undefined> = new Array<T | undefined>(16);
  private ats: number[] = new Array<number>(16).fill(0);
  private head = 0;
  size = 0;
  push(item: T, at: number): void {
    if (this.size === this.items.length) {
      const n = this.items.length;
      const grown = new Array<T | undefined>(n * 2);
      const grownAts = new Array<number>(n * 2).fill(0);
      for (let i = 0; i < this.size; i++) {
        grown[i] = this.items[(this.head + i) % n];
        grownAts[i] = this.ats[(this.head + i) % n];
      }
      this.items = grown;
      this.ats = grownAts;
      this.head = 0;
    }
    const tail = (this.head + this.size) % this.items.length;
    this.items[tail] = item;
    this.ats[tail] = at;
    this.size++;
  }
  /** Arrival time of the oldest item (only when size > 0). */
  oldestAt(): number {
    return this.ats[this.head];
  }
  /** Removes and returns the oldest item (only when size > 0). */
  shift(): T {
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return item;
  }
}

/** An empty queue; `onShed` hears every item shed by `take` as expired (push returns what it sheds). */
export function createAdmissionQueue<T>(
  limits: AdmissionLimits,
  onShed: (item: T, cls: AdmissionClass, reason: ShedReason) => void,
): AdmissionQueue<T> {
  const capacity = Math.max(1, limits.capacity);
  const queues: Record<AdmissionClass, Fifo<T>> = { complete: new Fifo<T>(), new: new Fifo<T>() };
  const order: AdmissionClass[] = ['complete', 'new'];
  return {
    get size() {
      return queues.complete.size + queues.new.size;
    },
    push(item, cls, now) {
      let shed: { item: T; cls: AdmissionClass } | undefined;
      if (queues.complete.size + queues.new.size >= capacity) {
        if (queues.new.size > 0) shed = { item: queues.new.shift(), cls: 'new' };
        else if (cls === 'new') return { item, cls };
        else shed = { item: queues.complete.shift(), cls: 'complete' };
      }
      queues[cls].push(item, now);
      return shed;
    },
    sizeOf: (cls) => queues[cls].size,
    take(now, only) {
      for (const cls of only ? [only] : order) {
        const q = queues[cls];
        while (q.size > 0) {
          const at = q.oldestAt();
          const item = q.shift();
          if (now - at <= limits.maxAgeMs[cls]) return item;
          onShed(item, cls, 'expired');
        }
      }
      return undefined;
    },
  };
}

/** The class of a DHCP message type (option 53): REQUEST, DECLINE, RELEASE and INFORM complete a client in flight. */
export function admissionClassOf(messageType: number | undefined): AdmissionClass {
  return messageType === DhcpMessageType.request ||
    messageType === DhcpMessageType.decline ||
    messageType === DhcpMessageType.release ||
    messageType === DhcpMessageType.inform
    ? 'complete'
    : 'new';
}
