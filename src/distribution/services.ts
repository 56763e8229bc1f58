/**
 * What an OTP node's kernel processes answer, for a TypeScript node: net_kernel (is_auth, so
 * net_adm:ping works), rex (rpc:call/cast and erpc's feature probe), global_name_server (through
 * {@link GlobalServer}), and SPAWN_REQUEST (erpc:call/cast into exposed functions).
 */
import { atom, Atom, Pid, Reference, Tuple, tuple, type Term } from '../etf/terms.ts';
import { SpawnReplyFlag, type SignalOf } from './control.ts';
import { exitReason, type ExposedModules } from './exposed.ts';
import type { GlobalServer } from './global.ts';
import type { PeerConnection } from './process-table.ts';
import { ATOM_NORMAL, errorReason, isAtom, type From, type Process } from './process.ts';
import type { Services } from './router.ts';

/** Names this node answers itself, like the kernel processes of an OTP node. */
export const SYSTEM_NAMES: ReadonlySet<string> = new Set(['net_kernel', 'rex', 'global_name_server']);

/** What the services need from their node. */
export interface ServicesHost {
  readonly nodeAtom: Atom;
  /** gen:reply from the node's system process. */
  reply(from: From, reply: Term): void;
  /** A message from the node's system process. */
  send(to: Pid, message: Term): void;
  /** A process for a peer's SPAWN_REQUEST, linked to and/or monitored by the requester. */
  spawnFor(requester: Pid, reqId: Reference, link: boolean, monitor: boolean): Process;
  /** Logs what went wrong answering a peer. */
  warn(msg: string, fields: Record<string, unknown>): void;
}

const A = {
  apply: atom('apply'),
  badarg: atom('badarg'),
  badrpc: atom('badrpc'),
  erlang: atom('erlang'),
  erpc: atom('erpc'),
  error: atom('error'),
  EXIT: atom('EXIT'),
  features_reply: atom('features_reply'),
  rex: atom('rex'),
  yes: atom('yes'),
} as const;

export class SystemServices implements Services {
  constructor(
    private readonly host: ServicesHost,
    private readonly exposed: ExposedModules,
    /** Our side of OTP's `global`; none on a hidden node (hidden nodes are outside global). */
    private readonly global: GlobalServer | undefined,
  ) {}

  deliver(name: string, message: Term): boolean {
    if (name === 'net_kernel') this.netKernel(message);
    else if (name === 'rex') this.rex(message);
    else if (name === 'global_name_server' && this.global !== undefined) this.global.handle(message);
    else return false;
    return true;
  }

  /** The connection to `node` is gone. */
  nodeDown(node: string): void {
    this.global?.nodeDown(node);
  }

  /** net_kernel's side of net_adm:ping: `{'$gen_call', From, {is_auth, Node}}` → yes. */
  private netKernel(message: Term): void {
    if (!(message instanceof Tuple) || message.length !== 3 || !isAtom(message.elements[0], '$gen_call'))
      return;
    const from = message.elements[1];
    const request = message.elements[2];
    if (!(from instanceof Tuple) || from.length !== 2) return;
    if (request instanceof Tuple && isAtom(request.elements[0], 'is_auth')) this.host.reply(from, A.yes);
  }

  /** The rex server: rpc's legacy `{call, M, F, A, GL}` form, casts, and the erpc feature probe. */
  private rex(message: Term): void {
    if (!(message instanceof Tuple)) return;
    const [first, second] = message.elements;
    if (message.length === 2 && first instanceof Pid && isAtom(second, 'features_request')) {
      this.host.send(first, tuple(A.features_reply, this.host.nodeAtom, [A.erpc]));
      return;
    }
    if (
      message.length === 2 &&
      isAtom(first, '$gen_cast') &&
      second instanceof Tuple &&
      isAtom(second.elements[0], 'cast')
    ) {
      const [, m, f, a] = second.elements;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a))
        this.background(this.exposed.run(m, f, a));
      return;
    }
    // {'$gen_call', From, {call, M, F, A, GL}} or the old {From, {call, M, F, A, GL}}.
    let reply: ((r: Term) => void) | undefined;
    let request: Term | undefined;
    if (message.length === 3 && isAtom(first, '$gen_call') && second instanceof Tuple) {
      const from = second;
      reply = (r) => this.host.reply(from, r);
      request = message.elements[2];
    } else if (message.length === 2 && first instanceof Pid) {
      const to = first;
      reply = (r) => this.host.send(to, tuple(A.rex, r));
      request = second;
    }
    if (
      reply === undefined ||
      !(request instanceof Tuple) ||
      !(isAtom(request.elements[0], 'call') || isAtom(request.elements[0], 'block_call'))
    ) {
      return;
    }
    const [, m, f, a] = request.elements;
    const send = reply;
    const badrpc = (reason: Term) => tuple(A.badrpc, tuple(A.EXIT, reason));
    if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(a)) {
      // What apply/3 does with them: badarg, and the caller hears it.
      const apply = tuple(A.erlang, A.apply, [m ?? [], f ?? [], a ?? []], []);
      this.answer(send, badrpc(tuple(A.badarg, [apply])), badrpc);
      return;
    }
    this.background(
      this.exposed
        .run(m, f, a)
        .then((r) => this.answer(send, r.kind === 'return' ? r.value : badrpc(exitReason(r)), badrpc)),
    );
  }

  /**
   * Sends `reply`; when that throws (a term with no encoding), sends `instead` of the error
   * reason, so the caller gets an error rather than silence.
   */
  private answer(send: (reply: Term) => void, reply: Term, instead: (reason: Term) => Term): void {
    try {
      send(reply);
    } catch (err) {
      this.host.warn('reply could not be sent; answering with an error', { error: errorText(err) });
      send(instead(errorReason(err)));
    }
  }

  /** Work started for a peer and not awaited: a failure is logged, never an unhandled rejection. */
  private background(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.host.warn('request from a peer failed', { error: errorText(err) }));
  }

  /** SPAWN_REQUEST: erpc:execute_call/4, erpc:execute_cast/3, or an exposed function directly. */
  spawnRequest(conn: PeerConnection, s: SignalOf<'spawn_request'>): void {
    const link = s.options.some((o) => isAtom(o, 'link'));
    const monitor = s.options.some((o) => isAtom(o, 'monitor'));
    const proc = this.host.spawnFor(s.from, s.reqId, link, monitor);
    conn.send({
      kind: 'spawn_reply',
      reqId: s.reqId,
      to: s.from,
      flags: (link ? SpawnReplyFlag.LINK : 0) | (monitor ? SpawnReplyFlag.MONITOR : 0),
      result: proc.pid,
    });
    this.background(this.runSpawned(proc, s).then((reason) => proc.terminate(reason)));
  }

  private async runSpawned(proc: Process, s: SignalOf<'spawn_request'>): Promise<Term> {
    const args = s.args;
    if (s.module.name === 'erpc' && s.function.name === 'execute_call' && args.length === 4) {
      const [resultRef, m, f, a] = args;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a)) {
        const r = await this.exposed.run(m, f, a);
        if (r.kind === 'error' && r.stack !== undefined)
          return tuple(resultRef as Term, A.error, r.value, r.stack);
        return tuple(resultRef as Term, atom(r.kind), r.value);
      }
    }
    if (s.module.name === 'erpc' && s.function.name === 'execute_cast' && args.length === 3) {
      const [m, f, a] = args;
      if (m instanceof Atom && f instanceof Atom && Array.isArray(a)) {
        return exitReason(await this.exposed.run(m, f, a));
      }
    }
    const r = await this.exposed.run(s.module, s.function, args);
    return proc.alive ? exitReason(r) : ATOM_NORMAL;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
