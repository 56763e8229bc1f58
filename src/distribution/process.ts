/**
 * A JavaScript process on a {@link Node}: a pid, a mailbox with selective receive, links,
 * monitors and exit signals with Erlang's semantics. The node does the routing.
 */
import { Writer } from '../bytes.ts';
import { DistError } from '../errors.ts';
import { encodeInto } from '../etf/encode.ts';
import { toJS, type TermsMode } from '../etf/js.ts';
import { Atom, atom, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { ProcessExit, ReceiveTimeout } from './errors.ts';

/** What a process can address: a pid, a local registered name, `{Name, Node}`, or an alias. */
export type Destination = Pid | Atom | string | Tuple | Reference;

/** `{Pid, Tag}` of a gen_server-style call, as the request carried it. */
export type From = Tuple;

export const ATOM_NORMAL: Atom = atom('normal');
export const ATOM_KILL: Atom = atom('kill');
export const ATOM_KILLED: Atom = atom('killed');

export function pidKey(p: Pid): string {
  return `${p.node.name}/${p.id}.${p.serial}.${p.creation}`;
}

export function refKey(r: Reference): string {
  return `${r.node.name}/${r.creation}/${r.ids.join('.')}`;
}

/** Whether `t` is the atom `name` (true and false are atoms too). */
export function isAtom(t: Term | undefined, name: string): boolean {
  return (t instanceof Atom && t.name === name) || (typeof t === 'boolean' && String(t) === name);
}

export function sameRef(a: Term | undefined, b: Reference): boolean {
  return a instanceof Reference && refKey(a) === refKey(b);
}

/** The exit reason a JavaScript error stands for: a ProcessExit's own, else `{js_error, Message}`. */
export function errorReason(err: unknown): Term {
  if (err instanceof ProcessExit) return err.reason;
  return tuple(atom('js_error'), err instanceof Error ? err.message : String(err));
}

/** Binaries from this size on are referenced, not copied, by the encodability check. */
const CHECK_SPLICE_BYTES = 256;
/** The check's writer is replaced once it has grown past this, so it does not pin memory. */
const CHECK_RETAIN_BYTES = 1024 * 1024;
let checkWriter = new Writer();

/**
 * Why `term` cannot go to another node (the EncodeError encoding it throws), or undefined when
 * it can. Values from JavaScript code (exposed functions' results, exit reasons) are checked
 * before they are sent, so a value with no Erlang term fails where its sender can answer with
 * an error instead of later, inside the connection. Large binaries are not copied.
 */
export function encodeFailure(term: Term): Error | undefined {
  const w = checkWriter;
  w.reset();
  w.spliceMin = CHECK_SPLICE_BYTES;
  try {
    encodeInto(w, term);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    w.reset();
    if (w.buf.length > CHECK_RETAIN_BYTES) checkWriter = new Writer();
  }
}

/** `reason` when it can go to another node, else the `{js_error, Message}` of why not. */
export function sendableReason(reason: Term): Term {
  const failure = encodeFailure(reason);
  return failure === undefined ? reason : errorReason(failure);
}

/** gen_server:call's default timeout. */
export const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** Taken messages the mailbox keeps as holes before it is compacted (once they are most of it). */
const COMPACT_AFTER = 1024;

const NOTHING: unique symbol = Symbol('nothing');

interface Waiter {
  match: (m: Term) => boolean;
  resolve: (m: Term) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** The operations a process asks its node for (implemented by Node). */
export interface ProcessHost {
  send(dest: Destination, message: Term, from: Pid): void;
  sendAsync(dest: Destination, message: Term, from: Pid): Promise<void>;
  link(self: Process, other: Pid): void;
  unlink(self: Process, other: Pid): void;
  monitor(self: Process, target: Destination): Reference;
  demonitor(self: Process, ref: Reference): void;
  exitSignal(from: Pid, to: Pid, reason: Term): void;
  processDied(self: Process, reason: Term): void;
  reply(from: From, reply: Term, sender: Pid): void;
  callFrom(self: Process, dest: Destination, request: Term, timeoutMs: number): Promise<Term>;
  makeRef(): Reference;
}

/** Link state toward one pid; `unlinking` holds the id of our UNLINK_ID awaiting its ack. */
export interface LinkState {
  pid: Pid;
  unlinking: bigint | undefined;
}

export class Process {
  /** Receive exit signals as `{'EXIT', From, Reason}` messages instead of dying. */
  trapExit = false;
  /** `'js'`: messages arrive in the JS-friendly mapping (docs/etf.md), converted on delivery. */
  terms: TermsMode = 'erlang';
  /** @internal links by pid key */
  readonly links = new Map<string, LinkState>();
  /** @internal monitors this process holds: ref key → what and where */
  readonly monitoring = new Map<string, { ref: Reference; target: Pid | Tuple; node: string }>();
  /** @internal monitors others hold on this process: ref key → watcher */
  readonly monitoredBy = new Map<string, { ref: Reference; watcher: Pid; byName: Atom | undefined }>();
  /** @internal active aliases (ref keys) */
  readonly aliases = new Set<string>();
  /** Resolves with the exit reason when the process ends. */
  readonly exited: Promise<Term>;
  private resolveExited: (reason: Term) => void = () => undefined;
  /** The mailbox: a queue read from `head`, compacted as it drains (receive is O(1) in order). */
  private mailbox: Term[] = [];
  private head = 0;
  private waiter: Waiter | undefined;
  private dead: Term | undefined;

  constructor(
    readonly pid: Pid,
    private readonly host: ProcessHost,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** Errors about this process name its node. */
  private get context(): { node: string } {
    return { node: this.pid.node.name };
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** The exit reason once the process is dead. */
  get exitReason(): Term | undefined {
    return this.dead;
  }

  get queueLength(): number {
    return this.mailbox.length - this.head;
  }

  /** Removes and returns the first message `match` accepts, or NOTHING. */
  private take(match: ((m: Term) => boolean) | undefined): Term | typeof NOTHING {
    const box = this.mailbox;
    for (let i = this.head; i < box.length; i++) {
      const m = box[i]!;
      if (match !== undefined && !match(m)) continue;
      if (i === this.head) {
        box[i] = undefined as unknown as Term;
        this.head++;
        if (this.head === box.length) {
          this.mailbox = [];
          this.head = 0;
        } else if (this.head > COMPACT_AFTER && this.head * 2 > box.length) {
          this.mailbox = box.slice(this.head);
          this.head = 0;
        }
      } else {
        box.splice(i, 1);
      }
      return m;
    }
    return NOTHING;
  }

  /**
   * The first message that `match` accepts (any message without one), waiting up to
   * `timeoutMs` (forever by default). Rejects with {@link ReceiveTimeout} or {@link ProcessExit}.
   * A type guard (`is.tuple(...)`, src/etf/guard.ts) types the message it accepts; `receive<T>()`
   * only asserts a type.
   */
  receive<T extends Term>(match: (m: Term) => m is T, timeoutMs?: number): Promise<T>;
  receive<T = Term>(match?: (m: Term) => boolean, timeoutMs?: number): Promise<T>;
  receive(match?: (m: Term) => boolean, timeoutMs?: number): Promise<Term> {
    if (this.dead !== undefined) return Promise.reject(new ProcessExit(this.dead, this.context));
    if (this.waiter !== undefined)
      return Promise.reject(new DistError('DIST_RECEIVE_BUSY', 'a receive is already pending', this.context));
    const found = this.take(match);
    if (found !== NOTHING) return Promise.resolve(found as Term);
    const accept = match ?? (() => true);
    if (timeoutMs === 0) return Promise.reject(new ReceiveTimeout(0, this.context));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { match: accept, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          if (this.waiter === waiter) this.waiter = undefined;
          reject(new ReceiveTimeout(timeoutMs, this.context));
        }, timeoutMs);
      }
      this.waiter = waiter;
    });
  }

  /** @internal the node delivers a message */
  deliver(message: Term): void {
    if (this.dead !== undefined) return;
    if (this.terms === 'js') message = toJS(message);
    const w = this.waiter;
    if (w !== undefined && w.match(message)) {
      this.waiter = undefined;
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.resolve(message);
      return;
    }
    this.mailbox.push(message);
  }

  /** @internal marks the process dead; the node then tells links and monitors */
  terminate(reason: Term): boolean {
    if (this.dead !== undefined) return false;
    this.dead = reason;
    this.mailbox = [];
    this.head = 0;
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(new ProcessExit(reason, this.context));
    }
    this.host.processDied(this, reason);
    this.resolveExited(reason);
    return true;
  }

  /**
   * Sends `message`; never blocks. Binaries in it are Erlang binaries, immutable: large ones
   * go to the socket by reference, so do not modify them after sending.
   */
  send(dest: Destination, message: Term): void {
    this.host.send(dest, message, this.pid);
  }

  /** Sends once the connection to `dest`'s node is below its high-water mark (Node.sendAsync). */
  sendAsync(dest: Destination, message: Term): Promise<void> {
    return this.host.sendAsync(dest, message, this.pid);
  }

  link(other: Pid): void {
    this.host.link(this, other);
  }

  unlink(other: Pid): void {
    this.host.unlink(this, other);
  }

  monitor(target: Destination): Reference {
    return this.host.monitor(this, target);
  }

  demonitor(ref: Reference): void {
    this.host.demonitor(this, ref);
  }

  /** erlang:exit(Pid, Reason): sends an exit signal (to itself too). */
  exit(target: Pid, reason: Term): void {
    this.host.exitSignal(this.pid, target, reason);
  }

  /** Ends this process with `reason` (links and monitors see it). */
  stop(reason: Term = ATOM_NORMAL): void {
    this.terminate(reason);
  }

  /** gen:reply: answers a `{'$gen_call', From, Request}` this process received. */
  reply(from: From, reply: Term): void {
    this.host.reply(from, reply, this.pid);
  }

  /** gen_server:call from this process. */
  call(dest: Destination, request: Term, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<Term> {
    return this.host.callFrom(this, dest, request, timeoutMs);
  }

  /** gen_server:cast from this process. */
  cast(dest: Destination, request: Term): void {
    this.host.send(dest, new Tuple([atom('$gen_cast'), request]), this.pid);
  }

  makeRef(): Reference {
    return this.host.makeRef();
  }
}
