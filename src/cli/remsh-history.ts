/**
 * The line history of `eid remsh` kept across sessions, as erl's `-kernel shell_history enabled`
 * does: one file per user, one line per entry, appended as lines are entered (so sessions running
 * side by side all keep theirs), read back newest first when a session starts, and rewritten with
 * only the newest entries once it holds twice the bound. The file is the user's own (mode 0600):
 * shell lines can hold secrets.
 */
import {
  closeSync,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/** How many entries a session loads and the file keeps (erl keeps about 512 kB). */
export const HISTORY_ENTRIES = 1000;
/** Longer lines are not saved (a paste of a whole file, say): they would crowd out the rest. */
export const MAX_ENTRY_CHARS = 4096;
/** The variable that names the file; set and empty, it turns the history file off. */
export const HISTORY_ENV = 'EID_REMSH_HISTORY';

/**
 * Where the history lives: $EID_REMSH_HISTORY, else $XDG_STATE_HOME/eid/remsh_history, else
 * ~/.local/state/eid/remsh_history; undefined when it is turned off.
 */
export function historyPath(env: NodeJS.ProcessEnv = process.env, home = homedir()): string | undefined {
  const named = env[HISTORY_ENV];
  if (named !== undefined) return named === '' ? undefined : named;
  const state = env.XDG_STATE_HOME;
  // The XDG spec says to ignore a relative XDG_STATE_HOME.
  const base = state !== undefined && isAbsolute(state) ? state : join(home, '.local', 'state');
  return join(base, 'eid', 'remsh_history');
}

export class HistoryFile {
  /** Entries appended since the file was last compacted (by anyone): compaction is due at twice the bound. */
  private lines = 0;

  constructor(
    readonly path: string,
    private readonly bound = HISTORY_ENTRIES,
  ) {}

  /** The newest `bound` distinct entries, newest first (readline's order); none when there is no file. */
  load(): string[] {
    const all = this.readLines();
    this.lines = all.length;
    const seen = new Set<string>();
    const out: string[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < this.bound; i--) {
      const line = all[i]!;
      if (seen.has(line)) continue;
      seen.add(line);
      out.push(line);
    }
    return out;
  }

  /** Saves one entered line; a history that cannot be written never gets in the shell's way. */
  add(line: string): void {
    if (!worthKeeping(line)) return;
    try {
      const fd = this.open('a');
      try {
        writeSync(fd, `${line}\n`);
      } finally {
        closeSync(fd);
      }
      if (++this.lines >= 2 * this.bound) this.compact();
    } catch {
      // A read-only home or a full disk: this session's history still works.
    }
  }

  /** Rewrites the file with the newest entries (oldest first), through a rename so no reader sees half. */
  private compact(): void {
    const keep = this.load().reverse();
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, keep.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    renameSync(temporary, this.path);
    this.lines = keep.length;
  }

  private readLines(): string[] {
    let fd: number;
    try {
      fd = this.open('r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      // Never more than the tail that a file cut back on time can hold, whatever it has grown to.
      const length = Math.min(size, 2 * this.bound * (MAX_ENTRY_CHARS + 1));
      const buffer = Buffer.alloc(length);
      let read = 0;
      while (read < length) {
        const n = readSync(fd, buffer, read, length - read, size - length + read);
        if (n === 0) break;
        read += n;
      }
      const lines = buffer.subarray(0, read).toString('utf8').split('\n');
      // A tail cut mid-file starts inside a line; the last piece is empty or a line still being written.
      if (length < size) lines.shift();
      lines.pop();
      return lines.filter(worthKeeping);
    } finally {
      closeSync(fd);
    }
  }

  /** Opens the file, making it and its directory private to the user. */
  private open(flags: 'a' | 'r'): number {
    if (flags === 'a') mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const fd = openSync(this.path, flags, 0o600);
    try {
      // A file made wider by hand (or by an umask) becomes private again.
      if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    } catch {
      // Not ours to change (a shared path named on purpose): read and write it as it is.
    }
    return fd;
  }
}

function worthKeeping(line: string): boolean {
  return line.trim() !== '' && line.length <= MAX_ENTRY_CHARS && !line.includes('\n');
}
