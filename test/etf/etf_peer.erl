%% The real-Erlang side of the ETF property tests: a port program reading {packet,4} frames on
%% stdin and answering on stdout. Started once per test file by test/etf/erlang-peer.ts.
%%   <<1, Etf/binary>>              -> binary_to_term then term_to_binary (UTF-8 atoms)
%%   <<2, Seed:32, Size:16>>        -> a random term generated here, as term_to_binary
%%   <<3, LenA:32, A:LenA/binary, B/binary>> -> <<1>> if the two encodings decode =:=, else <<0>>
%%   <<4, List/binary>>             -> {List sorted by the exact order, [exact order of each adjacent
%%                                      pair], [standard order (<, ==, >) of each adjacent pair]}; orders are -1, 0, 1
%%   <<5, Text/binary>>             -> {ok, Term} if erl_scan + erl_parse:parse_term read Text as a term, else error
%%   <<6, Etf/binary>>              -> [Text] as Erlang prints the term: ~tw, then ~tp on one line
%% Every reply is <<0, Payload/binary>> on success or <<1, Reason/binary>> on failure.
-module(etf_peer).
-export([main/0]).

main() ->
    Port = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
    loop(Port).

loop(Port) ->
    receive
        {Port, {data, Request}} ->
            Reply =
                try handle(Request) of
                    Payload -> <<0, Payload/binary>>
                catch
                    Class:Reason -> <<1, (iolist_to_binary(io_lib:format("~p:~p", [Class, Reason])))/binary>>
                end,
            Port ! {self(), {command, Reply}},
            loop(Port);
        {Port, eof} ->
            halt(0)
    end.

encode(Term) -> term_to_binary(Term, [{minor_version, 2}]).

handle(<<1, Etf/binary>>) ->
    encode(binary_to_term(Etf));
handle(<<2, Seed:32, Size:16>>) ->
    rand:seed(exsss, {Seed, Seed bxor 16#5bd1e995, 17}),
    encode(term(Size));
handle(<<3, LenA:32, A:LenA/binary, B/binary>>) ->
    case binary_to_term(A) =:= binary_to_term(B) of
        true -> <<1>>;
        false -> <<0>>
    end;
handle(<<4, Etf/binary>>) ->
    List = binary_to_term(Etf),
    Pairs = lists:zip(lists:droplast(List), tl(List)),
    %% The exact order (map keys are sorted by it; integers before floats) is what erts_internal:cmp_term
    %% computes; lists:sort/1 uses the standard order, where 1 == 1.0.
    Exact = fun(A, B) -> erts_internal:cmp_term(A, B) end,
    Sorted = lists:sort(fun(A, B) -> Exact(A, B) =< 0 end, List),
    encode({Sorted, [Exact(A, B) || {A, B} <- Pairs], [order(A, B) || {A, B} <- Pairs]});
handle(<<5, Text/binary>>) ->
    encode(parse_term(unicode:characters_to_list(Text)));
handle(<<6, Etf/binary>>) ->
    Term = binary_to_term(Etf),
    Texts = [io_lib:format("~tw", [Term]), io_lib:format("~tp", [Term], [{chars_limit, -1}])],
    encode([unicode:characters_to_binary(T) || T <- Texts]).

order(A, B) when A < B -> -1;
order(A, B) when A > B -> 1;
order(_, _) -> 0.

parse_term(Text) ->
    case erl_scan:string(Text ++ ".") of
        {ok, Tokens, _} ->
            case erl_parse:parse_term(Tokens) of
                {ok, Term} -> {ok, Term};
                {error, _} -> error
            end;
        {error, _, _} -> error
    end.

%% A random term of roughly Size nodes, covering every type the codec knows.
term(Size) when Size =< 1 -> leaf();
term(Size) ->
    case rand:uniform(8) of
        1 -> list_to_tuple(children(Size));
        2 -> children(Size);
        3 -> improper(Size);
        4 -> maps:from_list(pairs(Size));
        5 -> maps:from_list(pairs(Size) ++ [{K, K} || K <- lists:seq(1, 40)]);
        6 -> closure(Size);
        7 -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(Size))];
        8 -> leaf()
    end.

children(Size) ->
    Count = rand:uniform(min(Size, 12)) - 1,
    [term(Size div max(Count, 1)) || _ <- lists:seq(1, Count)].

pairs(Size) ->
    Children = children(Size),
    [{key(), V} || V <- Children].

%% OTP 25 quirk: a map of more than 32 keys whose key holds an external reference is not =:= to
%% itself after a second binary_to_term, so keys here hold no references.
key() ->
    Key = term(2),
    case has_reference(Key) of
        true -> key();
        false -> Key
    end.

has_reference(T) when is_reference(T) -> true;
has_reference([H | T]) -> has_reference(H) orelse has_reference(T);
has_reference(T) when is_tuple(T) -> has_reference(tuple_to_list(T));
has_reference(T) when is_map(T) -> has_reference(maps:to_list(T));
has_reference(T) when is_function(T) -> has_reference(element(2, erlang:fun_info(T, env)));
has_reference(_) -> false.

improper(Size) ->
    Elements = [term(Size div 3) || _ <- lists:seq(1, rand:uniform(3))],
    Tail = leaf(),
    case is_list(Tail) of
        true -> Elements ++ [Tail];
        false -> lists:foldr(fun(E, Acc) -> [E | Acc] end, Tail, Elements)
    end.

closure(Size) ->
    Captured = term(Size div 2),
    case rand:uniform(2) of
        1 -> fun() -> Captured end;
        2 -> fun(X) -> {X, Captured} end
    end.

leaf() ->
    case rand:uniform(22) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 32) - (1 bsl 31) - 1;
        3 -> big();
        4 -> float();
        5 -> integral_float();
        6 -> atom();
        7 -> lists:nth(rand:uniform(5), [true, false, undefined, nil, '']);
        8 -> rand:bytes(rand:uniform(40) - 1);
        9 -> bitstring();
        10 -> [];
        11 -> "";
        12 -> <<>>;
        13 -> self();
        14 -> external_pid();
        15 -> external_port();
        16 -> make_ref();
        17 -> external_ref();
        18 -> fun erlang:element/2;
        19 -> {};
        20 -> #{};
        21 -> unicode:characters_to_binary(unicode_text(8));
        22 -> lists:seq(250, 250 + rand:uniform(20))
    end.

big() ->
    Bits = lists:nth(rand:uniform(6), [33, 48, 53, 54, 64, 200 + rand:uniform(2100)]),
    Magnitude = rand:uniform(1 bsl Bits),
    case rand:uniform(2) of
        1 -> Magnitude;
        2 -> -Magnitude
    end.

float() ->
    <<F:64/float>> = finite_float_bits(),
    F.

finite_float_bits() ->
    Bits = rand:bytes(8),
    case Bits of
        <<_:1, 2047:11, _:52>> -> finite_float_bits();
        _ -> Bits
    end.

integral_float() ->
    lists:nth(rand:uniform(6), [0.0, -0.0, 1.0, -1.0, 1.0e300, float(rand:uniform(1 bsl 53))]).

atom() ->
    Length = lists:nth(rand:uniform(4), [1, 5, 30, 255]),
    list_to_atom(unicode_text(rand:uniform(Length))).

unicode_text(Length) ->
    [char() || _ <- lists:seq(1, Length)].

char() ->
    case rand:uniform(4) of
        1 -> $a + rand:uniform(26) - 1;
        2 -> 16#a0 + rand:uniform(16#5f);
        3 -> 16#4e00 + rand:uniform(16#100);
        4 -> 16#1f600 + rand:uniform(16#40)
    end.

bitstring() ->
    Bytes = rand:bytes(rand:uniform(6) - 1),
    Bits = rand:uniform(7),
    <<Bytes/binary, (rand:uniform(1 bsl Bits) - 1):Bits>>.

node_atom() ->
    list_to_atom("n" ++ integer_to_list(rand:uniform(1000)) ++ "@host" ++ [char()]).

external_pid() ->
    Node = encode_atom(node_atom()),
    binary_to_term(<<131, 88, Node/binary, (rand:uniform(1 bsl 32) - 1):32, (rand:uniform(1 bsl 32) - 1):32,
                     (rand:uniform(1 bsl 32) - 1):32>>).

external_port() ->
    Node = encode_atom(node_atom()),
    binary_to_term(<<131, 120, Node/binary, (rand:uniform(1 bsl 64) - 1):64, (rand:uniform(1 bsl 32) - 1):32>>).

external_ref() ->
    Node = encode_atom(node_atom()),
    Count = rand:uniform(5),
    Ids = << <<(rand:uniform(1 bsl 32) - 1):32>> || _ <- lists:seq(1, Count) >>,
    binary_to_term(<<131, 90, Count:16, Node/binary, (rand:uniform(1 bsl 32) - 1):32, Ids/binary>>).

encode_atom(Atom) ->
    <<131, Encoded/binary>> = encode(Atom),
    Encoded.
