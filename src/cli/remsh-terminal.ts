/**
 * The terminal side of `eid remsh`: Node's readline as the line editor of an Erlang shell that
 * runs on another node. Keys: Tab completes (asking the target), Ctrl-C interrupts the running
 * evaluation (or clears the line being typed), Ctrl-G opens the user switch prompt (q leaves,
 * i interrupts, c returns), Ctrl-D on an empty line leaves. Leaving never stops the remote node;
 * a line that would (q(), init:stop(), halt()) is sent only after the user confirms it.
 */
import { emitKeypressEvents, createInterface, type Interface } from 'node:readline';
import type { IoTerminal } from '../distribution/io-server.ts';
import { HISTORY_ENTRIES, type HistoryFile } from './remsh-history.ts';

export interface ShellHooks {
  /** Interrupts the running evaluation (what Ctrl-C and Ctrl-G i do). */
  interrupt(): void;
  /** Leaves the shell; the remote node keeps running. */
  leave(): void;
  /** The user confirmed a line that stops the remote node; it is being sent. */
  stopConfirmed(): void;
  /** Completions for the text before the cursor: text to insert, and candidates to show. */
  complete(before: string): Promise<{ insert: string; matches: string[] }>;
}

/** The expressions that stop the node they run on (the shell's q(), init:stop(), halt()). */
const STOPS_NODE =
  /^\s*(?:(?:c:)?q|init:stop|init:reboot|init:restart|(?:erlang:)?halt)\s*\([^)]*\)\s*\.\s*$/;

/** Whether a typed line stops the node it is evaluated on. */
export function stopsNode(line: string): boolean {
  return STOPS_NODE.test(line);
}

const SWITCH_HELP = `  c                 - connect to the shell again
  i                 - interrupt the running evaluation
  q                 - quit eid remsh (the remote node keeps running)
  ? | h             - this message
`;

type Mode = 'shell' | 'switch' | 'confirm';

export class ReadlineTerminal implements IoTerminal {
  private readonly rl: Interface;
  private pending:
    { prompt: string; history: boolean; resolve: (line: string | undefined) => void } | undefined;
  /** Lines typed while nothing was asked for: the next reads take them. */
  private readonly typedAhead: string[] = [];
  private mode: Mode = 'shell';
  /** The line a confirmation is asked for, and the line being typed when Ctrl-G came. */
  private held = '';
  private closed = false;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
    private readonly target: string,
    private readonly hooks: ShellHooks,
    /** Where entered lines are kept across sessions, if anywhere. */
    private readonly savedHistory?: HistoryFile,
  ) {
    this.rl = createInterface({
      input,
      output,
      terminal: true,
      history: savedHistory?.load() ?? [],
      historySize: HISTORY_ENTRIES,
      removeHistoryDuplicates: true,
      completer: (line: string, callback: (err: null, result: [string[], string]) => void) => {
        this.complete(line, callback);
      },
    });
    emitKeypressEvents(input, this.rl);
    input.on('keypress', this.onKeypress);
    this.rl.on('line', (line) => this.onLine(line));
    this.rl.on('SIGINT', () => this.onInterrupt());
    this.rl.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.output.write('\n');
      this.hooks.leave();
    });
  }

  write(text: string): void {
    if (this.pending === undefined || this.mode !== 'shell') {
      this.output.write(text);
      return;
    }
    // Output while a prompt is shown (a background process printing): above the prompt, then redraw.
    this.output.write('\r\x1b[K');
    this.output.write(text.endsWith('\n') ? text : `${text}\n`);
    this.rl.prompt(true);
  }

  readLine(prompt: string, options: { history: boolean }): Promise<string | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const ahead = this.typedAhead.shift();
    if (ahead !== undefined) {
      if (options.history) this.savedHistory?.add(ahead);
      return Promise.resolve(ahead);
    }
    return new Promise((resolve) => {
      this.pending = { prompt, history: options.history, resolve };
      if (this.mode === 'shell') {
        this.rl.setPrompt(prompt);
        this.rl.prompt(true);
      }
    });
  }

  geometry(): { columns: number; rows: number } | undefined {
    const { columns, rows } = this.output;
    return columns > 0 && rows > 0 ? { columns, rows } : undefined;
  }

  /** Ends line editing; pending and later reads see the end of input. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.input.off('keypress', this.onKeypress);
    this.rl.close();
    this.pending?.resolve(undefined);
    this.pending = undefined;
  }

  private onLine(line: string): void {
    if (this.mode !== 'shell') this.forget(line); // a user switch command or a y/N answer
    if (this.mode === 'switch') return this.switchCommand(line.trim());
    if (this.mode === 'confirm') {
      this.mode = 'shell';
      if (/^y(es)?$/i.test(line.trim())) {
        this.hooks.stopConfirmed();
        return this.deliver(this.held);
      }
      this.output.write('Not sent.\n');
      return this.reprompt();
    }
    if (stopsNode(line)) {
      this.mode = 'confirm';
      this.held = line;
      this.rl.setPrompt(`${line.trim()} stops ${this.target}. Send it? [y/N] `);
      this.rl.prompt();
      return;
    }
    this.deliver(line);
  }

  private deliver(line: string): void {
    const pending = this.pending;
    if (pending === undefined) {
      this.typedAhead.push(line);
      return;
    }
    this.pending = undefined;
    if (pending.history) this.savedHistory?.add(line);
    else this.forget(line);
    pending.resolve(line);
  }

  /** Takes the line just entered out of readline's history, which put it there already. */
  private forget(line: string): void {
    const history = (this.rl as unknown as { history: string[] }).history;
    if (history[0] === line) history.shift();
  }

  private reprompt(): void {
    if (this.pending === undefined) return;
    this.rl.setPrompt(this.pending.prompt);
    this.rl.prompt();
  }

  private clearLine(): void {
    this.rl.write(null, { ctrl: true, name: 'e' });
    this.rl.write(null, { ctrl: true, name: 'u' });
  }

  private onInterrupt(): void {
    if (this.mode !== 'shell') {
      this.mode = 'shell';
      this.output.write('\n');
      this.clearLine();
      return this.reprompt();
    }
    if (this.pending !== undefined) {
      // At a prompt nothing runs: Ctrl-C drops the line being typed, as in a Unix shell.
      this.output.write('^C\n');
      this.clearLine();
      return this.reprompt();
    }
    this.output.write('^C\n');
    this.hooks.interrupt();
  }

  private readonly onKeypress = (
    _chunk: string | undefined,
    key: { ctrl?: boolean; name?: string } | undefined,
  ): void => {
    if (key?.ctrl !== true || key.name !== 'g' || this.mode === 'switch') return;
    this.mode = 'switch';
    this.held = this.rl.line;
    this.output.write('\nUser switch command (type h for help)\n');
    this.clearLine();
    this.rl.setPrompt(' --> ');
    this.rl.prompt();
  };

  private switchCommand(command: string): void {
    switch (command) {
      case 'q':
        this.output.write('Leaving the shell; the remote node keeps running.\n');
        this.hooks.leave();
        return;
      case 'i':
        this.hooks.interrupt();
        break;
      case '':
      case 'c': {
        this.mode = 'shell';
        const held = this.held;
        this.held = '';
        this.reprompt();
        if (held !== '') this.rl.write(held);
        return;
      }
      case 'h':
      case '?':
        this.output.write(SWITCH_HELP);
        break;
      default:
        this.output.write('Unknown command\n');
    }
    this.rl.prompt();
  }

  private complete(line: string, callback: (err: null, result: [string[], string]) => void): void {
    this.hooks.complete(line).then(
      ({ insert, matches }) => {
        if (insert !== '') return callback(null, [[line + insert], line]);
        callback(null, [[], line]);
        if (matches.length > 0) {
          this.output.write(`\n${columns(matches, this.output.columns || 80)}`);
          this.rl.prompt(true);
        }
      },
      () => callback(null, [[], line]),
    );
  }
}

/** `items` in columns across `width`, as a shell lists completions. */
function columns(items: string[], width: number): string {
  const cell = Math.max(...items.map((s) => s.length)) + 2;
  const perRow = Math.max(1, Math.floor(width / cell));
  let out = '';
  for (let i = 0; i < items.length; i += perRow) {
    out += `${items
      .slice(i, i + perRow)
      .map((s) => s.padEnd(cell))
      .join('')
      .trimEnd()}\n`;
  }
  return out;
}
