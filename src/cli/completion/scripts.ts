// Shell completion scripts for bash, zsh and fish, written from shark's own
// command and flag definitions (so a new flag completes without touching
// this file). Fixed choices (`-o compact`) are in the script; values that
// depend on the moment (namespaces, pods) are asked of
// `shark autocomplete --values KIND` at Tab time, as kubectl does.

import type { ValueKind } from './values.js';

export interface CompletionFlag {
  name: string;
  char?: string;
  description: string;
  takesValue: boolean;
  /** Fixed choices, from the flag's definition. */
  options?: readonly string[];
  /** Choices asked of shark at Tab time. */
  values?: ValueKind;
  /** A comma-separated list of `values` (e.g. --protocols http,dns). */
  list?: boolean;
  /** The value is a path. */
  file?: boolean;
}

export interface CompletionCommand {
  name: string;
  summary: string;
  flags: CompletionFlag[];
  /** What the positional arguments are. */
  args: 'files' | 'pods' | 'none' | 'shells';
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(shell: Shell, bin: string, commands: CompletionCommand[]): string {
  if (shell === 'bash') return bashScript(bin, commands);
  if (shell === 'zsh') return zshScript(bin, commands);
  return fishScript(bin, commands);
}

const ident = (bin: string) => bin.replace(/[^A-Za-z0-9_]/g, '_');
const oneLine = (s: string) => s.split('\n')[0].trim();
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bashScript(bin: string, commands: CompletionCommand[]): string {
  const fn = `_${ident(bin)}_complete`;
  const names = commands.map((c) => c.name).join(' ');
  const valueCases: string[] = [];
  const flagCases: string[] = [];
  const argCases: string[] = [];
  for (const c of commands) {
    const words: string[] = [];
    for (const f of c.flags) {
      const spellings = [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])];
      words.push(...spellings);
      if (!f.takesValue) continue;
      const pattern = spellings.map((s) => `"${c.name} ${s}"`).join('|');
      if (f.options) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -W ${sq(f.options.join(' '))} -- "$cur")); return ;;`);
      else if (f.values && f.list) valueCases.push(`    ${pattern}) __${ident(bin)}_list ${f.values}; return ;;`);
      else if (f.values) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -W "$(__${ident(bin)}_values ${f.values})" -- "$cur")); return ;;`);
      else if (f.file) valueCases.push(`    ${pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
      else valueCases.push(`    ${pattern}) return ;;`);
    }
    flagCases.push(`    ${c.name}) COMPREPLY=($(compgen -W ${sq(words.join(' '))} -- "$cur")); return ;;`);
    if (c.args === 'pods') argCases.push(`    ${c.name}) COMPREPLY=($(compgen -W "$(__${ident(bin)}_values pods)" -- "$cur")); return ;;`);
    else if (c.args === 'shells') argCases.push(`    ${c.name}) COMPREPLY=($(compgen -W 'bash zsh fish' -- "$cur")); return ;;`);
    else if (c.args === 'none') argCases.push(`    ${c.name}) return ;;`);
  }
  return `# bash completion for ${bin}: eval "$(${bin} autocomplete bash)" in ~/.bashrc
__${ident(bin)}_values() {
  # The namespace, kubeconfig and context typed so far pick the cluster and namespace to ask.
  local i args=()
  for ((i = 1; i < \${#COMP_WORDS[@]} - 1; i++)); do
    case "\${COMP_WORDS[i]}" in
      -n|--namespace|--kubeconfig|--context) args+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}") ;;
    esac
  done
  ${bin} autocomplete --values "$1" "\${args[@]}" 2>/dev/null
}
__${ident(bin)}_list() {
  # A comma-separated list: complete the item after the last comma.
  local done="" item="$cur"
  if [[ "$cur" == *,* ]]; then done="\${cur%,*},"; item="\${cur##*,}"; fi
  local v
  COMPREPLY=()
  for v in $(__${ident(bin)}_values "$1"); do
    [[ "$v" == "$item"* ]] && COMPREPLY+=("$done$v")
  done
  compopt -o nospace 2>/dev/null
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="\${COMP_WORDS[1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${sq(names)} -- "$cur"))
    return
  fi
  case "$cmd $prev" in
${valueCases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${flagCases.join('\n')}
    esac
  fi
  case "$cmd" in
${argCases.join('\n')}
  esac
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F ${fn} ${bin}
`;
}

function zshEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`).replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');
}

function zshScript(bin: string, commands: CompletionCommand[]): string {
  const fn = `_${ident(bin)}`;
  const described = commands.map((c) => `    '${c.name}:${zshEscape(oneLine(c.summary))}'`).join('\n');
  const cases = commands.map((c) => {
    const specs = c.flags.map((f) => {
      const desc = zshEscape(oneLine(f.description));
      const names = f.char ? `'(-${f.char} --${f.name})'{-${f.char},--${f.name}}` : `--${f.name}`;
      const eq = f.takesValue && !f.char ? '=' : '';
      let action = '';
      if (f.takesValue) {
        if (f.options) action = `:${f.name}:(${f.options.join(' ')})`;
        else if (f.values && f.list) action = `:${f.name}:_sequence compadd - \${(f)"$(${bin} autocomplete --values ${f.values} 2>/dev/null)"}`;
        else if (f.values) action = `:${f.name}:{compadd - \${(f)"$(${bin} autocomplete --values ${f.values} 2>/dev/null)"}}`;
        else if (f.file) action = `:${f.name}:_files`;
        else action = `:${f.name}: `;
      }
      const spec = f.char ? `${names}'[${desc}]${action ? `${action.replace(/'/g, `'\\''`)}` : ''}'` : `'${names}${eq}[${desc}]${action.replace(/'/g, `'\\''`)}'`;
      return `        ${spec}`;
    });
    const rest =
      c.args === 'pods'
        ? `'*:pod:{compadd - \${(f)"$(${bin} autocomplete --values pods 2>/dev/null)"}}'`
        : c.args === 'shells'
          ? `'1:shell:(bash zsh fish)'`
          : c.args === 'files'
            ? `'*:file:_files'`
            : '';
    return `    ${c.name})\n      _arguments -s \\\n${[...specs, rest ? `        ${rest}` : ''].filter(Boolean).join(' \\\n')}\n      ;;`;
  });
  return `#compdef ${bin}
# zsh completion for ${bin}: eval "$(${bin} autocomplete zsh)" in ~/.zshrc (after compinit)
${fn}() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local cmd=\${words[2]}
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases.join('\n')}
  esac
}
if (( \${+functions[compdef]} )); then compdef ${fn} ${bin}; fi
`;
}

function fishScript(bin: string, commands: CompletionCommand[]): string {
  const lines = [`# fish completion for ${bin}: ${bin} autocomplete fish > ~/.config/fish/completions/${bin}.fish`, `complete -c ${bin} -f`];
  // __fish_complete_list wants a function name: one per kind of value.
  for (const kind of ['protocols', 'namespaces', 'pods']) lines.push(`function __${ident(bin)}_${kind}; ${bin} autocomplete --values ${kind} 2>/dev/null; end`);
  for (const c of commands) {
    lines.push(`complete -c ${bin} -n __fish_use_subcommand -a ${c.name} -d ${sq(oneLine(c.summary))}`);
  }
  for (const c of commands) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
    for (const f of c.flags) {
      const parts = [`complete -c ${bin}`, when, `-l ${f.name}`];
      if (f.char) parts.push(`-s ${f.char}`);
      if (f.takesValue) {
        if (f.options) parts.push('-x', `-a ${sq(f.options.join(' '))}`);
        else if (f.values && f.list) parts.push('-x', `-a '(__fish_complete_list , __${ident(bin)}_${f.values})'`);
        else if (f.values) parts.push('-x', `-a '(${bin} autocomplete --values ${f.values} 2>/dev/null)'`);
        else if (f.file) parts.push('-r', '-F');
        else parts.push('-x');
      }
      parts.push(`-d ${sq(oneLine(f.description))}`);
      lines.push(parts.join(' '));
    }
    if (c.args === 'files') lines.push(`complete -c ${bin} ${when} -F`);
    else if (c.args === 'pods') lines.push(`complete -c ${bin} ${when} -a '(${bin} autocomplete --values pods 2>/dev/null)'`);
    else if (c.args === 'shells') lines.push(`complete -c ${bin} ${when} -a 'bash zsh fish'`);
  }
  return lines.join('\n') + '\n';
}
