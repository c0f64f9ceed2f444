import { Args, Flags } from '@oclif/core';
import { SharkCommand } from '../cli/base-command.js';
import { ExitCode } from '../cli/errors.js';
import { SHELLS, completionScript, type CompletionCommand, type Shell } from '../cli/completion/scripts.js';
import { VALUE_KINDS, completionValues, type ValueKind } from '../cli/completion/values.js';
import { prose } from '../cli/prose.js';

export default class Autocomplete extends SharkCommand {
  static override summary = 'Print the shell completion script for bash, zsh or fish';
  static override description = prose(`Completes commands, flags and flag values: formats for -o, protocols for --protocols, and, when a
kubeconfig is reachable, namespaces for -n and pod names for tap's pod regex (asked of the cluster at Tab time,
with a 2 s limit). Install it once with one of the lines below (zsh: after compinit in ~/.zshrc).`);
  static override examples = [
    { description: 'bash', command: `echo 'eval "$(<%= config.bin %> autocomplete bash)"' >> ~/.bashrc` },
    { description: 'zsh (after compinit)', command: `echo 'eval "$(<%= config.bin %> autocomplete zsh)"' >> ~/.zshrc` },
    { description: 'fish', command: '<%= config.bin %> autocomplete fish > ~/.config/fish/completions/shark.fish' },
  ];
  static override args = { shell: Args.string({ description: 'bash, zsh or fish', options: [...SHELLS], required: false }) };
  static override flags = {
    values: Flags.string({ description: 'print the completion values of a kind, one per line (used by the scripts)', options: [...VALUE_KINDS], hidden: true }),
    namespace: Flags.string({ char: 'n', description: 'namespace for --values pods', hidden: true }),
    kubeconfig: Flags.string({ description: 'kubeconfig for --values namespaces|pods', hidden: true }),
    context: Flags.string({ description: 'kubeconfig context for --values namespaces|pods', hidden: true }),
  };

  protected async execute(): Promise<number> {
    const { args, flags } = await this.parse(Autocomplete);
    if (flags.values) {
      const values = await completionValues(flags.values as ValueKind, { namespace: flags.namespace, kubeconfig: flags.kubeconfig, context: flags.context });
      process.stdout.write(values.map((v) => `${v}\n`).join(''));
      return ExitCode.OK;
    }
    const shell = (args.shell ?? (process.env.SHELL?.split('/').pop() as string)) as Shell;
    if (!SHELLS.includes(shell)) {
      process.stderr.write(`autocomplete: name the shell: ${SHELLS.join(', ')}\n`);
      return ExitCode.USAGE;
    }
    process.stdout.write(completionScript(shell, this.config.bin, this.commandModel()));
    return ExitCode.OK;
  }

  /** Every visible command and flag, from oclif's definitions (the manifest). */
  private commandModel(): CompletionCommand[] {
    return this.config.commands
      .filter((c) => !c.hidden)
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((c) => ({
        name: c.id,
        summary: c.summary ?? c.description ?? '',
        args: c.id === 'tap' ? 'pods' : c.id === 'autocomplete' ? 'shells' : Object.keys(c.args ?? {}).length > 0 || !c.strict ? 'files' : 'none',
        flags: Object.values(c.flags ?? {})
          .filter((f) => !f.hidden)
          .map((f) => ({
            name: f.name,
            char: f.char,
            description: f.summary ?? f.description ?? '',
            takesValue: f.type === 'option',
            options: f.type === 'option' ? f.options : undefined,
            values: f.name === 'namespace' ? 'namespaces' : f.name === 'protocols' ? 'protocols' : undefined,
            list: f.name === 'protocols',
            file: /^(kubeconfig|tls-keylog|meta|proto|write|check|rules|junit)$/.test(f.name),
          })),
      }));
  }
}
