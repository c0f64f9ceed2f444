// `--ring SIZE`, `--spool SIZE`, `--spool-dir DIR`: the capture helper's
// buffers between libpcap and dissection (src/capture/helper.ts), shared by
// tap -i, agent and record.
import { Flags } from '@oclif/core';
import { parseSize } from './units.js';
import type { LiveOptions } from '../capture/live.js';

export const captureBufferFlags = {
  ring: Flags.string({
    description: 'capture helper: memory ring between capture and dissection; when it fills, new flows are shed whole (default 64MB)',
  }),
  spool: Flags.string({
    description: 'capture helper: spill packets to a disk spool of this size when the ring is full, instead of shedding (e.g. 1GB)',
  }),
  'spool-dir': Flags.string({ description: 'capture helper: folder of the spool file (default $TMPDIR or /tmp)' }),
};

/** The flags as openLive options (nothing when not given: the helper's defaults). */
export function captureBufferOptions(flags: { ring?: string; spool?: string; 'spool-dir'?: string }): Pick<LiveOptions, 'ringSize' | 'spoolSize' | 'spoolDir'> {
  return {
    ...(flags.ring !== undefined ? { ringSize: parseSize(flags.ring, '--ring') } : {}),
    ...(flags.spool !== undefined ? { spoolSize: parseSize(flags.spool, '--spool') } : {}),
    ...(flags['spool-dir'] !== undefined ? { spoolDir: flags['spool-dir'] } : {}),
  };
}
