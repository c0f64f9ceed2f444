// A first-in first-out queue whose shift costs the same at any length:
// Array.prototype.shift copies a large array (tens of thousands of Redis
// commands in flight made each shift ~46 µs). Taken items are cleared, and
// the array is compacted once most of it has been taken.

export class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The item `i` places from the front (0: the oldest), or undefined. */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.items[this.head + i];
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Every item, oldest first, and the queue emptied. */
  takeAll(): T[] {
    const all = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return all;
  }

  /** The oldest item for which `test` holds. */
  find(test: (item: T) => boolean): T | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (test(item)) return item;
    }
    return undefined;
  }
}
