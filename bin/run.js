#!/usr/bin/env node
// Entry point: hand argv to oclif; failures are mapped to exit codes by the commands themselves.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
