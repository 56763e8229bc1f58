#!/usr/bin/env escript
%% Generates test/vectors/etf.json from the real Erlang on this machine (run once, output committed):
%%   escript scripts/gen-etf-vectors.escript [OutFile]
%% valid:   {name, hex, value, reencoded?, compressed?}: the bytes, what they decode to (described by
%%          Erlang itself), and, when OTP re-encodes the decoded term differently (legacy tags), the
%%          bytes term_to_binary(binary_to_term(Hex), [{minor_version, 2}]) gives.
%% invalid: {name, hex}: bytes binary_to_term rejects, or accepts only as a prefix (trailing bytes),
%%          checked here: the script aborts otherwise.
-mode(compile).

main(Args) ->
    Out = case Args of [File] -> File; [] -> "test/vectors/etf.json" end,
    Valid = [valid(Name, Bytes) || {Name, Bytes} <- terms() ++ legacy()],
    Invalid = [invalid(Name, Bytes) || {Name, Bytes} <- invalid()],
    Json = ["{\n\"otp\": ", json_string(erlang:system_info(otp_release)),
            ",\n\"valid\": [\n", join(Valid), "\n],\n\"invalid\": [\n", join(Invalid), "\n]\n}\n"],
    ok = file:write_file(Out, unicode:characters_to_binary(Json)),
    io:format("~s: ~b valid, ~b invalid~n", [Out, length(Valid), length(Invalid)]).

join(Items) -> lists:join(",\n", Items).

enc(Term) -> term_to_binary(Term, [{minor_version, 2}]).

valid(Name, Bytes) ->
    Term = binary_to_term(Bytes),
    Reencoded = enc(Term),
    Extra = case Reencoded of
                Bytes -> "";
                _ -> [", \"reencoded\": ", json_string(hex(Reencoded))]
            end,
    Compressed = case Bytes of
                     <<131, 80, _/binary>> -> ", \"compressed\": true";
                     _ -> ""
                 end,
    ["{\"name\": ", json_string(Name), ", \"hex\": ", json_string(hex(Bytes)),
     ", \"value\": ", desc(Term), Extra, Compressed, "}"].

invalid(Name, Bytes) ->
    %% binary_to_term/1 ignores trailing bytes; `used` shows them, and eid rejects them.
    Size = byte_size(Bytes),
    case catch binary_to_term(Bytes, [used]) of
        {'EXIT', {badarg, _}} -> ok;
        {_, Used} when Used < Size -> ok;
        Accepted -> erlang:error({erlang_accepts, Name, Accepted})
    end,
    ["{\"name\": ", json_string(Name), ", \"hex\": ", json_string(hex(Bytes)), "}"].

hex(Bin) -> lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= Bin]).

%% Terms as term_to_binary writes them (UTF-8 atoms).
terms() ->
    Port = open_port({spawn, "true"}, []),
    Ext = fun(Node) -> <<131, Atom/binary>> = enc(Node), Atom end,
    Node = Ext('remote@host'),
    ExternalPid = binary_to_term(<<131, 88, Node/binary, 70000:32, 123456:32, 4000000000:32>>),
    ExternalPort = binary_to_term(<<131, 89, Node/binary, 77:32, 9:32>>),
    WidePort = binary_to_term(<<131, 120, Node/binary, (1 bsl 40 + 5):64, 9:32>>),
    ExternalRef = binary_to_term(<<131, 90, 3:16, Node/binary, 9:32, 1:32, 2:32, 3:32>>),
    Captured = {captured, [1, 2.5, <<"x">>]},
    Cases =
        [{"small integer 0", 0}, {"small integer 255", 255}, {"integer 256", 256},
         {"integer -1", -1}, {"integer max", 2147483647}, {"integer min", -2147483648},
         {"small big 2^31", 2147483648}, {"small big -2^31-1", -2147483649},
         {"small big 2^40", 1 bsl 40}, {"small big 2^53-1", (1 bsl 53) - 1},
         {"small big 2^53 (bigint)", 1 bsl 53}, {"small big -2^53", -(1 bsl 53)},
         {"small big 2^64", 1 bsl 64}, {"small big 255 bytes", (1 bsl 2040) - 1},
         {"large big 256 bytes", 1 bsl 2040}, {"large big negative", -(1 bsl 4000) - 12345},
         {"float 1.0", 1.0}, {"float 0.0", 0.0}, {"float -0.0", -0.0}, {"float 1.5", 1.5},
         {"float 0.1", 0.1}, {"float -1.5e-300", -1.5e-300}, {"float 1.0e300", 1.0e300},
         {"float smallest denormal", 5.0e-324}, {"float largest", 1.7976931348623157e308},
         {"float 2^53 + 2", float((1 bsl 53) + 2)},
         {"atom true", true}, {"atom false", false}, {"atom undefined", undefined}, {"atom nil", nil},
         {"atom empty", ''}, {"atom foo", foo}, {"atom latin-1", 'héllo'},
         {"atom CJK", list_to_atom([16#65e5, 16#672c])}, {"atom emoji", list_to_atom([16#1f600])},
         {"atom 255 ASCII characters", list_to_atom(lists:duplicate(255, $a))},
         {"atom 255 four-byte characters", list_to_atom(lists:duplicate(255, 16#1f600))},
         {"atom 128 two-byte characters", list_to_atom(lists:duplicate(128, 16#e9))},
         {"nil", []}, {"empty binary", <<>>}, {"string abc", "abc"}, {"string of byte 0", [0]},
         {"list of atoms", [a, b]}, {"list of 256", [256]}, {"list 1..300", lists:seq(1, 300)},
         {"unicode charlist", [104, 16#e9, 16#65e5]},
         {"improper [a|b]", [a | b]}, {"improper [1,2|3]", [1, 2 | 3]}, {"improper [a|<<>>]", [a | <<>>]},
         {"improper [\"a\"|b]", ["a" | b]}, {"improper tail tuple", [1 | {2}]},
         {"empty tuple", {}}, {"tuple {a}", {a}}, {"tuple {ok, 1}", {ok, 1}},
         {"large tuple 256", list_to_tuple(lists:seq(1, 256))},
         {"binary", <<1, 2, 3>>}, {"binary utf8", <<"héllo"/utf8>>}, {"binary 300", binary:copy(<<9>>, 300)},
         {"bitstring 1 bit", <<1:1>>}, {"bitstring 2 bytes 3 bits", <<255, 5:3>>}, {"bitstring 7 bits", <<100:7>>},
         {"empty map", #{}}, {"map atom keys", #{op => 1, name => <<"x">>}},
         {"map any keys", #{{a, 1} => tuple, [1, 2] => list, #{k => v} => map, 1.0 => float, 1 => int,
                            <<"b">> => bin, "s" => str, [] => nil}},
         {"map 33 keys (hash order)", maps:from_list([{K, K * 2} || K <- lists:seq(1, 33)])},
         {"map 100 atom keys", maps:from_list([{list_to_atom("k" ++ integer_to_list(K)), K} || K <- lists:seq(1, 100)])},
         {"nested", [{a, [#{b => "c"}, {[], <<>>, ""}]}]},
         {"local pid", self()}, {"external pid", ExternalPid}, {"local port", Port},
         {"external port", ExternalPort}, {"v4 port", WidePort},
         {"local reference", make_ref()}, {"external reference", ExternalRef},
         {"export fun", fun erlang:element/2}, {"export fun unicode", fun 'modü':'fün'/0},
         {"local fun", fun(X) -> X end}, {"closure", fun() -> Captured end},
         {"compressed", {compressed, lists:duplicate(100, foo)}}],
    catch port_close(Port),
    [case Case of
         {Name, {compressed, Term}} -> {Name, term_to_binary(Term, [compressed, {minor_version, 2}])};
         {Name, Term} -> {Name, enc(Term)}
     end || Case <- Cases].

%% Older encodings OTP still decodes; the vector records what OTP re-encodes them to.
legacy() ->
    A = <<100, 0, 1, $a>>,
    [{"ATOM_EXT", term_to_binary(foo, [{minor_version, 1}])},
     {"SMALL_ATOM_EXT", <<131, 115, 3, "foo">>},
     {"ATOM_EXT latin-1", <<131, 100, 0, 2, 104, 16#e9>>},
     {"ATOM_EXT true", <<131, 100, 0, 4, "true">>},
     {"FLOAT_EXT", term_to_binary(1.5, [{minor_version, 0}])},
     {"FLOAT_EXT integral", term_to_binary(-2.0, [{minor_version, 0}])},
     {"PID_EXT", <<131, 103, A/binary, 1:32, 2:32, 3>>},
     {"PORT_EXT", <<131, 102, A/binary, 7:32, 2>>},
     {"V4_PORT_EXT small id", <<131, 120, A/binary, 7:64, 2:32>>},
     {"REFERENCE_EXT", <<131, 101, A/binary, 7:32, 1>>},
     {"NEW_REFERENCE_EXT", <<131, 114, 2:16, A/binary, 1, 7:32, 8:32>>},
     {"NEWER_REFERENCE_EXT no ids", <<131, 90, 0:16, A/binary, 1:32>>},
     {"SMALL_BIG small value", <<131, 110, 1, 0, 5>>},
     {"SMALL_BIG negative zero", <<131, 110, 0, 1>>},
     {"SMALL_BIG leading zero digits", <<131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0>>},
     {"INTEGER_EXT small value", <<131, 98, 0:32>>},
     {"LIST_EXT with STRING_EXT tail", <<131, 108, 1:32, 97, 1, 107, 2:16, 2, 3>>},
     {"LIST_EXT of bytes", <<131, 108, 2:32, 97, 1, 97, 2, 106>>},
     {"LIST_EXT empty with tail", <<131, 108, 0:32, 97, 1>>},
     {"BIT_BINARY_EXT 8 bits", <<131, 77, 1:32, 8, 255>>},
     {"BIT_BINARY_EXT garbage bits", <<131, 77, 1:32, 3, 255>>},
     {"LARGE_TUPLE_EXT small", <<131, 105, 1:32, 97, 1>>},
     {"LARGE_BIG small value", <<131, 111, 1:32, 0, 5>>},
     {"NEW_PID_EXT latin-1 node", <<131, 88, A/binary, 1:32, 2:32, 3:32>>}].

invalid() ->
    A = <<119, 1, $a>>,
    Big = lists:duplicate(256, $a),
    [{"empty", <<>>}, {"version only", <<131>>}, {"wrong version", <<130, 97, 1>>},
     {"unknown tag", <<131, 200>>}, {"trailing byte", <<131, 97, 1, 0>>},
     {"truncated INTEGER_EXT", <<131, 98, 0, 0>>}, {"truncated NEW_FLOAT_EXT", <<131, 70, 0, 0, 0>>},
     {"truncated atom", <<131, 119, 5, $a, $b>>}, {"truncated ATOM_UTF8_EXT length", <<131, 118, 0>>},
     {"lying BINARY_EXT length", <<131, 109, 0, 0, 0, 5, 1, 2>>},
     {"LARGE_TUPLE_EXT of 2^32-1 in 10 bytes", <<131, 105, 255, 255, 255, 255, 97, 1, 97, 1, 97>>},
     {"LIST_EXT of 2^32-1", <<131, 108, 255, 255, 255, 255, 97, 1, 106>>},
     {"MAP_EXT of 2^32-1", <<131, 116, 255, 255, 255, 255, 97, 1, 97, 2>>},
     {"lying STRING_EXT length", <<131, 107, 0, 10, 1, 2>>},
     {"lying SMALL_BIG_EXT length", <<131, 110, 200, 0, 1>>},
     {"lying LARGE_BIG_EXT length", <<131, 111, 255, 255, 255, 255, 0, 1>>},
     {"missing list tail", <<131, 108, 0, 0, 0, 1, 97, 1>>},
     {"invalid UTF-8 atom", <<131, 119, 1, 255>>}, {"overlong UTF-8 atom", <<131, 119, 2, 16#c0, 16#80>>},
     {"UTF-8 atom of 256 characters", <<131, 118, 256:16, (list_to_binary(Big))/binary>>},
     {"ATOM_EXT of 256 characters", <<131, 100, 256:16, (list_to_binary(Big))/binary>>},
     {"duplicate map keys", <<131, 116, 2:32, 97, 1, 97, 2, 97, 1, 97, 3>>},
     {"duplicate tuple map keys", <<131, 116, 2:32, 104, 1, 97, 1, 97, 1, 104, 1, 97, 1, 97, 2>>},
     {"NaN", <<131, 70, 127, 248, 0, 0, 0, 0, 0, 0>>}, {"Infinity", <<131, 70, 127, 240, 0, 0, 0, 0, 0, 0>>},
     {"FLOAT_EXT not a number", <<131, 99, (list_to_binary(lists:duplicate(31, $x)))/binary>>},
     {"BIT_BINARY_EXT 0 bits", <<131, 77, 1:32, 0, 255>>}, {"BIT_BINARY_EXT 9 bits", <<131, 77, 1:32, 9, 255>>},
     {"BIT_BINARY_EXT empty", <<131, 77, 0:32, 3>>},
     {"reference with 6 ids", <<131, 90, 6:16, A/binary, 1:32, 0:192>>},
     {"pid with integer node", <<131, 88, 97, 1, 1:32, 2:32, 3:32>>},
     {"export with atom arity", <<131, 113, A/binary, A/binary, A/binary>>},
     {"NEW_FUN_EXT lying size", <<131, 112, 255, 255, 255, 0, 1>>},
     {"ATOM_CACHE_REF without a cache", <<131, 82, 0>>},
     {"COMPRESSED_EXT wrong size", <<131, 80, 0, 0, 0, 9, (zlib:compress(<<97, 1>>))/binary>>},
     {"COMPRESSED_EXT garbage", <<131, 80, 0, 0, 0, 2, 1, 2, 3, 4>>},
     {"COMPRESSED_EXT inside a tuple", <<131, 104, 1, 80, 0, 0, 0, 2, (zlib:compress(<<97, 1>>))/binary>>}].

%% What a term decodes to, in the JSON shape test/etf/vectors.test.ts reads.
desc(I) when is_integer(I) -> obj("int", json_string(integer_to_list(I)));
desc(F) when is_float(F) -> obj("float", json_string(float_to_list(F, [short])));
desc(A) when is_atom(A) -> obj("atom", json_string(atom_to_list(A)));
desc(B) when is_binary(B) -> obj("binary", json_string(hex(B)));
desc(B) when is_bitstring(B) ->
    Bits = bit_size(B) rem 8,
    Padded = <<B/bitstring, 0:(8 - Bits)>>,
    ["{\"bitstring\": ", json_string(hex(Padded)), ", \"bits\": ", integer_to_list(Bits), "}"];
desc(L) when is_list(L) ->
    case improper(L, []) of
        {proper, Elements} -> obj("list", array(Elements));
        {improper, Elements, Tail} -> ["{\"improper\": ", array(Elements), ", \"tail\": ", desc(Tail), "}"]
    end;
desc(T) when is_tuple(T) -> obj("tuple", array(tuple_to_list(T)));
desc(M) when is_map(M) ->
    %% maps:to_list order is the order term_to_binary writes.
    obj("map", ["[", lists:join(", ", [["[", desc(K), ", ", desc(V), "]"] || {K, V} <- maps:to_list(M)]), "]"]);
desc(P) when is_pid(P) ->
    <<131, 88, Rest/binary>> = enc(P),
    {Node, <<Id:32, Serial:32, Creation:32>>} = node_atom(Rest),
    obj("pid", ["{\"node\": ", json_string(atom_to_list(Node)), ", \"id\": ", integer_to_list(Id),
                ", \"serial\": ", integer_to_list(Serial), ", \"creation\": ", integer_to_list(Creation), "}"]);
desc(P) when is_port(P) ->
    {Node, Id, Creation} =
        case enc(P) of
            <<131, 89, Rest/binary>> -> {N, <<I:32, C:32>>} = node_atom(Rest), {N, I, C};
            <<131, 120, Rest/binary>> -> {N, <<I:64, C:32>>} = node_atom(Rest), {N, I, C}
        end,
    obj("port", ["{\"node\": ", json_string(atom_to_list(Node)), ", \"id\": ", json_string(integer_to_list(Id)),
                 ", \"creation\": ", integer_to_list(Creation), "}"]);
desc(R) when is_reference(R) ->
    <<131, 90, Count:16, Rest/binary>> = enc(R),
    {Node, <<Creation:32, Ids:(Count * 4)/binary>>} = node_atom(Rest),
    obj("reference", ["{\"node\": ", json_string(atom_to_list(Node)), ", \"creation\": ", integer_to_list(Creation),
                      ", \"ids\": [", lists:join(", ", [integer_to_list(I) || <<I:32>> <= Ids]), "]}"]);
desc(F) when is_function(F) ->
    {module, M} = erlang:fun_info(F, module),
    {arity, Arity} = erlang:fun_info(F, arity),
    case erlang:fun_info(F, type) of
        {type, external} ->
            {name, N} = erlang:fun_info(F, name),
            obj("export", ["{\"module\": ", json_string(atom_to_list(M)), ", \"name\": ",
                           json_string(atom_to_list(N)), ", \"arity\": ", integer_to_list(Arity), "}"]);
        {type, local} ->
            {env, Env} = erlang:fun_info(F, env),
            obj("fun", ["{\"module\": ", json_string(atom_to_list(M)), ", \"arity\": ", integer_to_list(Arity),
                        ", \"free\": ", integer_to_list(length(Env)), "}"])
    end.

node_atom(<<119, Length, Name:Length/binary, Rest/binary>>) ->
    {binary_to_atom(Name, utf8), Rest}.

improper([], Acc) -> {proper, lists:reverse(Acc)};
improper([H | T], Acc) -> improper(T, [H | Acc]);
improper(Tail, Acc) -> {improper, lists:reverse(Acc), Tail}.

obj(Key, Value) -> ["{\"", Key, "\": ", Value, "}"].

array(Terms) -> ["[", lists:join(", ", [desc(T) || T <- Terms]), "]"].

json_string(Chars) -> [$", [json_char(C) || C <- Chars], $"].

json_char($") -> "\\\"";
json_char($\\) -> "\\\\";
json_char(C) when C >= 32, C < 127 -> C;
json_char(C) when C > 16#ffff ->
    V = C - 16#10000,
    [json_char(16#d800 + (V bsr 10)), json_char(16#dc00 + (V band 16#3ff))];
json_char(C) -> io_lib:format("\\u~4.16.0b", [C]).
