// The queue Redis keeps its commands in flight in (src/dissect/protocols/util/fifo.ts): the same
// answers as an array used as a queue, whatever the mix of pushes, shifts and compactions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Fifo } from '../../src/dissect/protocols/util/fifo.js';

test('Fifo behaves as an array queue (push, shift, at, find, takeAll), across compactions', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant('shift'), fc.constant('take'), fc.integer({ min: 1, max: 3000 })), { maxLength: 60 }), (ops) => {
      const fifo = new Fifo<number>();
      let model: number[] = [];
      let next = 0;
      for (const op of ops) {
        if (op === 'shift') assert.equal(fifo.shift(), model.shift());
        else if (op === 'take') {
          assert.deepEqual(fifo.takeAll(), model);
          model = [];
        } else {
          for (let i = 0; i < op; i++) {
            fifo.push(next);
            model.push(next++);
          }
          // Drain most of it: past 1,024 taken the array is compacted.
          for (let i = 0; i < op - 1; i++) assert.equal(fifo.shift(), model.shift());
        }
        assert.equal(fifo.length, model.length);
        assert.equal(fifo.at(0), model[0]);
        assert.equal(fifo.at(model.length - 1), model.at(-1));
        assert.equal(fifo.find((x) => x % 7 === 0), model.find((x) => x % 7 === 0));
      }
    }),
    { numRuns: 200, seed: 28 },
  );
});
