// The screen of `shark view`, drawn with ink (React for terminals): a
// counter bar, the list of calls (compact lines), the selected call's detail
// pane, and a help line that becomes the filter box when `/` is pressed (as
// in less, vim and k9s). The state lives in EntryStore; this file only maps
// keys to it and draws it, fitted to the terminal (80×24 over SSH included).

import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink';
import type { EntryStore } from './entry-store.js';
import { compactLine } from '../output/formats/compact.js';
import { detailLines } from '../output/formats/detail.js';
import { styles } from '../output/formats/colour.js';
import { escapeForTerminal, fitToWidth } from '../output/formats/terminal-text.js';
import { withoutLastCharacter } from './line-edit.js';

export interface ViewProps {
  store: EntryStore;
  /** Called with a redraw function; returns the unsubscribe. */
  subscribe: (redraw: () => void) => () => void;
  colour: boolean;
  /** Shown in the counter bar: "reading", "done", or an input error. */
  status: () => string;
}

const HELP = 'q quit  / filter  ↑↓ jk move  PgUp PgDn  g G first/last  f follow  [ ] scroll detail';

export function ViewApp(props: ViewProps): ReactElement {
  const { store } = props;
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [, setTick] = useState(0);
  const redraw = () => setTick((t) => t + 1);
  // Keys can arrive faster than renders (a paste, a fast typist, tmux send-keys): the filter box's
  // state lives in a ref that every key sees at once, not in the closure of the last render.
  const box = useRef({ editing: false, draft: '', before: '' }).current;
  const setEditing = (on: boolean) => {
    box.editing = on;
    redraw();
  };
  const setDraft = (text: string) => {
    box.draft = text;
    redraw();
  };
  const setBefore = (text: string) => {
    box.before = text;
  };
  const [error, setError] = useState<{ error?: string; column?: number }>({});
  const [detailOffset, setDetailOffset] = useState(0);
  // The furthest the detail pane can scroll, as last drawn: `]` stops there, so `[` scrolls back at once
  // (an offset left growing past the end took as many `[` as extra `]` before the pane moved).
  const detailEnd = useRef(0);
  const [size, setSize] = useState({ columns: stdout.columns || 80, rows: stdout.rows || 24 });

  useEffect(() => props.subscribe(redraw), []);
  useEffect(() => {
    const onResize = () => setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);

  const listRows = Math.max(3, Math.floor((size.rows - 4) / 2));
  const detailRows = Math.max(1, size.rows - listRows - 4);

  useInput((input, key) => {
    // Keys typed faster than they are read arrive as one string ("dns\rq"): take them one by one.
    if (input.length > 1 && !key.meta && !input.includes('\x1b')) {
      for (const ch of input) {
        if (ch === '\r' || ch === '\n') onKey('', { ...key, ctrl: false, return: true });
        else if (ch === '\x15') onKey('u', { ...key, ctrl: true }); // Ctrl-U
        else if (ch === '\x7f' || ch === '\b') onKey('', { ...key, ctrl: false, backspace: true });
        else if (ch >= ' ') onKey(ch, { ...key, ctrl: false });
      }
      return;
    }
    onKey(input, key);
  });

  function onKey(input: string, key: Key): void {
    if (box.editing) {
      if (key.return) {
        setEditing(false);
        setError({});
        return;
      }
      if (key.escape) {
        store.setFilter(box.before);
        setDraft(box.before);
        setError({});
        setEditing(false);
        return;
      }
      const current = box.draft;
      let next: string;
      if (key.backspace || key.delete) next = withoutLastCharacter(current);
      else if (key.ctrl && input === 'u') next = ''; // as in a shell: clear the line
      else if (input && !key.ctrl && !key.meta) next = current + input;
      else return;
      setDraft(next);
      // Applied as the user types; a half-typed expression keeps the last good filter and shows why.
      setError(store.setFilter(next));
      setDetailOffset(0);
      return;
    }
    if (input === 'q' || (key.ctrl && input === 'c')) {
      exit();
      return;
    }
    if (input === '/') {
      setBefore(store.filter.text);
      setDraft(store.filter.text);
      setError({});
      setEditing(true);
      return;
    }
    const moves: [boolean, () => void][] = [
      [key.upArrow || input === 'k', () => store.move(-1)],
      [key.downArrow || input === 'j', () => store.move(1)],
      [key.pageUp, () => store.move(-listRows)],
      [key.pageDown, () => store.move(listRows)],
      [input === 'g', () => store.toStart()],
      [input === 'G', () => store.toEnd()],
      [input === 'f', () => (store.follow ? (store.follow = false) : store.toEnd())],
    ];
    for (const [hit, act] of moves) {
      if (hit) {
        act();
        setDetailOffset(0);
        redraw();
        return;
      }
    }
    if (input === ']') setDetailOffset((o) => Math.min(detailEnd.current, o + Math.max(1, detailRows - 1)));
    else if (input === '[') setDetailOffset((o) => Math.max(0, Math.min(o, detailEnd.current) - Math.max(1, detailRows - 1)));
  }

  const width = size.columns;
  const plain = styles(false);
  const painted = styles(props.colour);

  // Counter bar.
  const protocols = [...store.counts.entries()].sort((a, b) => b[1] - a[1]).map(([p, n]) => `${escapeForTerminal(p)} ${n}`).join(' · ');
  const shown = store.filter.text ? `${store.size} of ${store.total}` : `${store.total}`;
  const state = [props.status(), store.follow ? 'follow' : ''].filter(Boolean).join(', ');
  const undecided = store.undecided();
  const unmatched = undecided ? `  (${undecided.calls} not matched: ${undecided.why})` : '';
  const bar = `${shown} calls${state ? ` [${state}]` : ''}  ${protocols}${store.dropped ? `  (${store.dropped} oldest let go)` : ''}${unmatched}`;

  // List window: keep the selection visible.
  const first = Math.max(0, Math.min(store.selected - Math.floor(listRows / 2), store.size - listRows));
  const rows: ReactElement[] = [];
  for (let i = 0; i < listRows; i++) {
    const e = store.at(first + i);
    if (!e) {
      rows.push(h(Text, { key: `r${i}` }, ' '));
      continue;
    }
    const selected = first + i === store.selected;
    const line = compactLine(e, { styles: selected ? plain : painted, columns: width - 2, wide: false });
    rows.push(h(Text, { key: `r${i}`, inverse: selected, wrap: 'truncate-end' }, `${selected ? '›' : ' '} ${line}`));
  }

  // Detail pane of the selected call.
  const sel = store.selectedEntry();
  const detail = sel ? detailLines(sel, { styles: painted, columns: width }) : ['(no call selected)'];
  detailEnd.current = Math.max(0, detail.length - detailRows);
  const offset = Math.min(detailOffset, detailEnd.current);
  const detailShown = detail.slice(offset, offset + detailRows);
  while (detailShown.length < detailRows) detailShown.push(' ');

  // Help line, or the filter box while editing.
  let bottom: ReactElement;
  if (box.editing) {
    // ink colours through chalk, which knows neither NO_COLOR nor --color never: red only when colour is on.
    const problem = error.error ? `  ✗ ${error.error}${error.column ? ` (column ${error.column})` : ''}` : '';
    bottom = h(Text, { wrap: 'truncate-end' }, h(Text, { bold: true }, '/'), `${escapeForTerminal(box.draft)}█`, h(Text, props.colour ? { color: 'red' } : {}, problem));
  } else {
    const filter = store.filter.text ? `filter: ${escapeForTerminal(store.filter.text)}   ` : '';
    bottom = h(Text, { dimColor: true, wrap: 'truncate-end' }, fitToWidth(filter + HELP, width));
  }

  return h(
    Box,
    { flexDirection: 'column', width },
    h(Text, { bold: true, wrap: 'truncate-end' }, fitToWidth(bar, width)),
    ...rows,
    h(Text, { dimColor: true }, '─'.repeat(Math.max(1, width))),
    ...detailShown.map((l, i) => h(Text, { key: `d${i}`, wrap: 'truncate-end' }, l === '' ? ' ' : l)),
    bottom,
  );
}
