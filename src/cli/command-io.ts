// What a command's runner needs of the command it runs for: the stop signal
// (first Ctrl-C/SIGTERM, or stdout's reader gone) and how to say stdout was
// closed (`| head`: stop producing, exit 0). Lets a command's modes live in
// their own modules while the command itself stays a page of flags.
export interface CommandIo {
  signal: AbortSignal;
  outputClosed(): void;
}
