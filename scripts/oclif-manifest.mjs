#!/usr/bin/env node
// Writes oclif.manifest.json after the build. Without it oclif imports every
// command module on each run to learn the command list — including the
// Kubernetes client (~1 s of startup) for `shark dissect | …` pipelines that
// never touch a cluster.
import { rmSync, writeFileSync } from 'node:fs';
import { Config } from '@oclif/core';

// Config.load reads an existing manifest instead of the commands: remove it
// first, or flags added since the last build never reach --help.
rmSync('oclif.manifest.json', { force: true });
const config = await Config.load(process.cwd());
const root = config.getPluginsList().find((p) => p.isRoot) ?? config.getPluginsList()[0];
writeFileSync('oclif.manifest.json', JSON.stringify(root.manifest, null, 2) + '\n');
console.log(`oclif.manifest.json: ${Object.keys(root.manifest.commands).length} commands`);
