%% The Erlang side of bench/dist.ts: a sink, an echo, a timed sender and a timed round trip for
%% distribution, and the raw TCP counterparts that measure the limit (no distribution at all).
-module(eid_bench).
-export([sink/0, echo/0, send_n/3, rtt/2, os_pid/0, tcp_sink/1, tcp_source/2, tcp_echo/1, send_profiled/3]).

sink() -> receive {expect, N, ReplyTo} -> drain(N), ReplyTo ! sink_done, sink() end.
drain(0) -> ok;
drain(N) -> receive _ -> drain(N - 1) end.

echo() -> receive {From, M} -> From ! M, echo() end.

%% Microseconds to send N copies of Msg to Dest until its sink has them all.
send_n(Dest, N, Msg) ->
    T0 = erlang:monotonic_time(microsecond),
    Dest ! {expect, N, self()},
    send_loop(Dest, N, Msg),
    receive sink_done -> erlang:monotonic_time(microsecond) - T0 end.
send_loop(_, 0, _) -> ok;
send_loop(Dest, N, Msg) -> Dest ! Msg, send_loop(Dest, N - 1, Msg).

%% Microseconds for K sequential round trips to an echo process.
rtt(Dest, K) ->
    T0 = erlang:monotonic_time(microsecond),
    rtt_loop(Dest, K),
    erlang:monotonic_time(microsecond) - T0.
rtt_loop(_, 0) -> ok;
rtt_loop(Dest, K) -> Dest ! {self(), ping}, receive ping -> rtt_loop(Dest, K - 1) end.

os_pid() -> list_to_integer(os:getpid()).

%% send_n/3 with what this (sending) node did meanwhile, to compare one peer with another
%% (bench/dist.ts --sender-profile): its runtime, the schedulers' microstates (msacc, percent),
%% busy_dist_port events and the dist socket's writes (send_cnt, send_oct).
send_profiled(Dest = {_, Node}, N, Msg) ->
    true = net_kernel:connect_node(Node),
    Port = proplists:get_value(Node, erlang:system_info(dist_ctrl)),
    Keys = [send_cnt, send_oct],
    {ok, S0} = inet:getstat(Port, Keys),
    Self = self(),
    Counter = spawn(fun() -> count_busy(0, Self) end),
    erlang:system_monitor(Counter, [busy_dist_port]),
    msacc:start(),
    {R0, _} = erlang:statistics(runtime),
    Us = send_n(Dest, N, Msg),
    {R1, _} = erlang:statistics(runtime),
    msacc:stop(),
    erlang:system_monitor(undefined),
    Counter ! stop,
    Busy = receive {busy, B} -> B end,
    {ok, S1} = inet:getstat(Port, Keys),
    Sched = lists:foldl(
        fun(#{type := scheduler, counters := C}, Acc) ->
               maps:fold(fun(K, V, A) -> maps:update_with(K, fun(X) -> X + V end, V, A) end, Acc, C);
           (_, Acc) -> Acc
        end, #{}, msacc:stats()),
    Total = max(1, lists:sum(maps:values(Sched))),
    #{us => Us, runtime_ms => R1 - R0, busy_dist_port => Busy,
      send_cnt => proplists:get_value(send_cnt, S1) - proplists:get_value(send_cnt, S0),
      send_oct => proplists:get_value(send_oct, S1) - proplists:get_value(send_oct, S0),
      sched => maps:map(fun(_, V) -> round(1000 * V / Total) / 10 end, Sched)}.

count_busy(N, Parent) ->
    receive
        {monitor, _, busy_dist_port, _} -> count_busy(N + 1, Parent);
        stop -> Parent ! {busy, N}
    end.

-define(TCP, [binary, {active, false}, {nodelay, true}, {ip, {127, 0, 0, 1}}]).

%% Listens (in a process of its own, which outlives this call) and returns the port. It accepts one
%% connection, reads Bytes bytes, answers one byte and closes.
tcp_sink(Bytes) ->
    serve(fun(S) -> read(S, Bytes), gen_tcp:send(S, <<1>>) end).
read(_, N) when N =< 0 -> ok;
read(S, N) -> {ok, B} = gen_tcp:recv(S, 0), read(S, N - byte_size(B)).

%% Accepts one connection and echoes frames of FrameBytes until it closes.
tcp_echo(FrameBytes) -> serve(fun(S) -> echo_frames(S, FrameBytes) end).
echo_frames(S, N) ->
    case gen_tcp:recv(S, N) of
        {ok, B} -> gen_tcp:send(S, B), echo_frames(S, N);
        {error, _} -> ok
    end.

serve(Handle) ->
    Self = self(),
    spawn(fun() ->
        {ok, L} = gen_tcp:listen(0, [{backlog, 1}, {buffer, 1 bsl 16} | ?TCP]),
        {ok, Port} = inet:port(L),
        Self ! {port, Port},
        {ok, S} = gen_tcp:accept(L),
        gen_tcp:close(L),
        Handle(S),
        gen_tcp:close(S)
    end),
    receive {port, Port} -> Port end.

%% Listens (like tcp_sink/1) and returns the port: it sends Chunk Times times to the one connection
%% it accepts, then waits for the receiver's one-byte answer (the receiver times it).
tcp_source(Chunk, Times) ->
    serve(fun(S) ->
        [ok = gen_tcp:send(S, Chunk) || _ <- lists:seq(1, Times)],
        {ok, <<1>>} = gen_tcp:recv(S, 1)
    end).
