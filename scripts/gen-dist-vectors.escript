#!/usr/bin/env escript
%% Generates test/vectors/distribution.json from the real Erlang on this machine (run once, output
%% committed):   escript scripts/gen-dist-vectors.escript [OutFile]
%%
%% handshake: the five handshake messages (bodies, no length prefix) of a real connection from node
%%            a@127.0.0.1 to node b@127.0.0.1, recorded by a TCP proxy between them, with the cookie
%%            and both creations, flags and challenges as Erlang itself sent them.
%% frames:    the bodies of the 4-byte-framed messages that followed, per direction, while `a`
%%            runs the scenario below (ticks are empty bodies). `messages` are the payloads the
%%            scenario sent, as term_to_binary writes them, for the test to find.
%% control:   control message tuples of every op OTP 25 sends, as term_to_binary writes them.
%%
%% `a` uses -erl_epmd_port (OTP 23+) pointing at the proxy, so it needs no EPMD and dials the
%% proxy for every node; -dist_listen false keeps it off that port (and makes it hidden).
-mode(compile).

-define(COOKIE, "eid_vector_cookie").

main(Args) ->
    Out = case Args of [File] -> File; [] -> "test/vectors/distribution.json" end,
    {Handshake, Frames} = record_connection(),
    Json = ["{\n\"otp\": ", str(erlang:system_info(otp_release)),
            ",\n\"cookie\": ", str(?COOKIE),
            ",\n\"initiator\": ", str("a@127.0.0.1"), ", \"acceptor\": ", str("b@127.0.0.1"),
            ",\n\"handshake\": {\n", join([[str(K), ": ", str(hex(V))] || {K, V} <- Handshake]), "\n}",
            ",\n\"frames\": {\n", join([[str(K), ": [", join([str(hex(F)) || F <- Fs]), "]"] || {K, Fs} <- Frames]), "\n}",
            ",\n\"messages\": [", join([str(hex(enc(M))) || M <- scenario_messages()]), "]",
            ",\n\"control\": [\n", join([vector(N, T) || {N, T} <- control_tuples()]), "\n]\n}\n"],
    ok = file:write_file(Out, unicode:characters_to_binary(Json)),
    io:format("~s: ~b handshake messages, ~b + ~b frames, ~b control tuples~n",
              [Out, length(Handshake), length(element(2, hd(Frames))), length(element(2, lists:last(Frames))),
               length(control_tuples())]).

enc(T) -> term_to_binary(T, [{minor_version, 2}]).
vector(Name, Tuple) -> ["{\"name\": ", str(Name), ", \"hex\": ", str(hex(enc(Tuple))), "}"].
hex(Bin) -> lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= Bin]).
str(S) -> [$", S, $"].
join(Items) -> lists:join(",\n", Items).

%% What `a` sends on the connection, besides what OTP itself sends (net_kernel, rex, spawn replies).
scenario_messages() -> [{vector_reg_send, 1}, {vector_send, <<"hello">>}, vector_alias_send].

scenario(B) ->
    lists:flatten(io_lib:format(
      "B = '~s',"
      "pong = net_adm:ping(B),"
      "{vec_b, B} ! {vector_reg_send, 1},"
      "P = erpc:call(B, erlang, whereis, [vec_b]),"
      "P ! {vector_send, <<\"hello\">>},"
      "link(P), unlink(P),"
      "R = monitor(process, P), demonitor(R),"
      "Alias = erpc:call(B, erlang, apply, [fun() -> V = alias(), {vec_b, B} ! {alias, V}, V end, []]),"
      "Alias ! vector_alias_send,"
      "M = monitor(process, P),"
      "{vec_b, B} ! stop,"
      "receive {'DOWN', M, process, P, _} -> ok end,"
      "halt().", [B])).

record_connection() ->
    Erl = os:find_executable("erl"),
    {ok, Probe} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, BPort} = inet:port(Probe),
    ok = gen_tcp:close(Probe),
    {ok, Proxy} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true}]),
    {ok, ProxyPort} = inet:port(Proxy),
    Common = ["-noshell", "-setcookie", ?COOKIE, "-start_epmd", "false"],
    BNode = start(Erl, Common ++ ["-name", "b@127.0.0.1", "-erl_epmd_port", integer_to_list(BPort), "-eval",
                    "register(vec_b, self()), io:format(\"up~n\"),"
                    "(fun L() -> receive stop -> halt(); _ -> L() end end)()."]),
    wait_output(BNode, "up"),
    ANode = start(Erl, Common ++ ["-name", "a@127.0.0.1", "-erl_epmd_port", integer_to_list(ProxyPort),
                                  "-dist_listen", "false", "-eval", scenario("b@127.0.0.1")]),
    {ok, FromA} = gen_tcp:accept(Proxy, 30000),
    {ok, ToB} = gen_tcp:connect({127, 0, 0, 1}, BPort, [binary, {active, false}]),
    Self = self(),
    spawn_link(fun() -> relay(FromA, ToB, a, Self) end),
    spawn_link(fun() -> relay(ToB, FromA, b, Self) end),
    Bytes = collect(#{a => <<>>, b => <<>>}, 2),
    [wait_exit(N) || N <- [ANode, BNode]],
    split(maps:get(a, Bytes), maps:get(b, Bytes)).

start(Erl, Args) ->
    open_port({spawn_executable, Erl}, [{args, Args}, exit_status, binary, stderr_to_stdout]).

wait_output(Port, Text) ->
    receive
        {Port, {data, Data}} ->
            case binary:match(Data, list_to_binary(Text)) of
                nomatch -> wait_output(Port, Text);
                _ -> ok
            end;
        {Port, {exit_status, S}} -> error({exited, S})
    after 30000 -> error({timeout, Text})
    end.

wait_exit(Port) ->
    receive
        {Port, {exit_status, _}} -> ok;
        {Port, {data, _}} -> wait_exit(Port)
    after 30000 -> error(node_did_not_exit)
    end.

relay(From, To, Who, Collector) ->
    case gen_tcp:recv(From, 0) of
        {ok, Data} ->
            Collector ! {Who, Data},
            _ = gen_tcp:send(To, Data),
            relay(From, To, Who, Collector);
        {error, _} ->
            gen_tcp:close(To),
            Collector ! {Who, closed}
    end.

collect(Acc, 0) -> Acc;
collect(Acc, Open) ->
    receive
        {_, closed} -> collect(Acc, Open - 1);
        {Who, Data} -> collect(maps:update_with(Who, fun(B) -> <<B/binary, Data/binary>> end, Acc), Open)
    after 60000 -> error({timeout, Acc})
    end.

%% a sends send_name and challenge_reply; b sends status, challenge and challenge_ack. Then frames.
split(A, B) ->
    {[SendName, ChallengeReply], ARest} = handshake(A, 2),
    {[Status, Challenge, ChallengeAck], BRest} = handshake(B, 3),
    {[{"send_name", SendName}, {"status", Status}, {"challenge", Challenge},
      {"challenge_reply", ChallengeReply}, {"challenge_ack", ChallengeAck}],
     [{"initiator", frames(ARest)}, {"acceptor", frames(BRest)}]}.

handshake(Bytes, 0) -> {[], Bytes};
handshake(<<Len:16, Body:Len/binary, Rest/binary>>, N) ->
    {Bodies, Tail} = handshake(Rest, N - 1),
    {[Body | Bodies], Tail}.

frames(<<>>) -> [];
frames(<<Len:32, Body:Len/binary, Rest/binary>>) -> [Body | frames(Rest)].

%% Control tuples of every op OTP 25 sends, with real pids and references of this node.
control_tuples() ->
    P1 = self(),
    P2 = spawn(fun() -> ok end),
    Ref = make_ref(),
    Tok = {token},
    Reason = {shutdown, because},
    MFA = {lists, reverse, 1},
    [{"LINK", {1, P1, P2}},
     {"SEND", {2, '', P2}},
     {"EXIT", {3, P1, P2, Reason}},
     {"UNLINK", {4, P1, P2}},
     {"REG_SEND", {6, P1, '', rex}},
     {"GROUP_LEADER", {7, P1, P2}},
     {"EXIT2", {8, P1, P2, kill}},
     {"SEND_TT", {12, '', P2, Tok}},
     {"EXIT_TT", {13, P1, P2, Tok, Reason}},
     {"REG_SEND_TT", {16, P1, '', rex, Tok}},
     {"EXIT2_TT", {18, P1, P2, Tok, kill}},
     {"MONITOR_P", {19, P1, net_kernel, Ref}},
     {"DEMONITOR_P", {20, P1, P2, Ref}},
     {"MONITOR_P_EXIT", {21, P2, P1, Ref, noproc}},
     {"SEND_SENDER", {22, P1, P2}},
     {"SEND_SENDER_TT", {23, P1, P2, Tok}},
     {"PAYLOAD_EXIT", {24, P1, P2}},
     {"PAYLOAD_EXIT_TT", {25, P1, P2, Tok}},
     {"PAYLOAD_EXIT2", {26, P1, P2}},
     {"PAYLOAD_EXIT2_TT", {27, P1, P2, Tok}},
     {"PAYLOAD_MONITOR_P_EXIT", {28, P2, P1, Ref}},
     {"SPAWN_REQUEST", {29, Ref, P1, P1, MFA, [monitor]}},
     {"SPAWN_REQUEST_TT", {30, Ref, P1, P1, MFA, [], Tok}},
     {"SPAWN_REPLY", {31, Ref, P1, 2, P2}},
     {"SPAWN_REPLY_TT", {32, Ref, P1, 0, badarg, Tok}},
     {"ALIAS_SEND", {33, P1, Ref}},
     {"ALIAS_SEND_TT", {34, P1, Ref, Tok}},
     {"UNLINK_ID", {35, 7, P1, P2}},
     {"UNLINK_ID_ACK", {36, 7, P1, P2}}].
