// Library entry: the parts commands are built from, for embedding and tests.
export * from './model/entry.js';
export * from './model/packet.js';
