/** One message waiting for the local broker. */
export interface QueuedMessage {
  topic: string;
  payload: Buffer | string;
  retain: boolean;
  qos: 0 | 1;
}

/**
 * The local client's bounded queue: never more than `capacity` messages; when full, the oldest is dropped and
 * counted. A retained message (a state: a count, a snapshot, discovery) replaces an older one of the same topic
 * still waiting, in its place, so a long outage keeps the latest state of everything rather than a backlog.
 */
export class PublishQueue {
  private readonly items: QueuedMessage[] = [];
  private head = 0;
  /** Messages dropped because the queue was full, since the start. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: QueuedMessage): void {
    if (m.retain) {
      for (let i = this.head; i < this.items.length; i++) {
        const q = this.items[i] as QueuedMessage;
        if (q.retain && q.topic === m.topic) {
          this.items[i] = m;
          return;
        }
      }
    }
    if (this.length >= this.capacity) {
      this.head++;
      this.dropped++;
    }
    this.items.push(m);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  shift(): QueuedMessage | undefined {
    if (this.length === 0) return undefined;
    const m = this.items[this.head] as QueuedMessage;
    this.head++;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return m;
  }

  /** Puts a message back at the head (a publish that failed as the connection went). Not counted as a drop. */
  unshift(m: QueuedMessage): void {
    // Full: the message is the oldest of all, so it is the one dropped.
    if (this.length >= this.capacity) {
      this.dropped++;
      return;
    }
    if (this.head > 0) this.items[--this.head] = m;
    else this.items.unshift(m);
  }
}
