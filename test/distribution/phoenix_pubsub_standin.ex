# A stand-in for phoenix_pubsub 2.1 (hex.pm is out of reach here), written from its documented
# behaviour, not copied: the same module names, processes, registrations, :pg membership and
# messages between nodes as Phoenix.PubSub with its default adapter, Phoenix.PubSub.PG2.
#
# - Phoenix.PubSub.start_link(name: N, pool_size: P, broadcast_pool_size: B) starts a supervisor
#   with a Registry named N (keys: :duplicate, meta pubsub: {adapter, adapter_name}) and the adapter.
# - The adapter name is N.Adapter. Groups: the adapter name, then :"<adapter name>_2" .. _P.
#   One worker per group, registered locally under the group name, joins the group in :pg scope
#   Phoenix.PubSub (started once per node, as Phoenix.PubSub.Application does).
# - broadcast: {:forward_to_local, topic, message, dispatcher} to each member of the group
#   elem(groups, :erlang.phash2(self(), B)) on other nodes, then local dispatch.
# - direct_broadcast: the same tuple to {group, node}.
# - A worker receiving the tuple runs local_broadcast(name, topic, message, dispatcher):
#   Registry.dispatch to dispatcher.dispatch(entries, :none, message).
defmodule Phoenix.PubSub do
  def child_spec(opts), do: %{id: opts[:name], start: {__MODULE__, :start_link, [opts]}, type: :supervisor}

  def start_link(opts) do
    name = Keyword.fetch!(opts, :name)
    pool_size = Keyword.get(opts, :pool_size, 1)
    broadcast_pool_size = Keyword.get(opts, :broadcast_pool_size, pool_size)
    adapter_name = Module.concat(name, "Adapter")
    ensure_scope()

    children = [
      {Registry, keys: :duplicate, name: name, meta: [pubsub: {Phoenix.PubSub.PG2, adapter_name}]},
      %{
        id: adapter_name,
        start: {Phoenix.PubSub.PG2, :start_link, [{name, adapter_name, pool_size, broadcast_pool_size}]},
        type: :supervisor
      }
    ]

    Supervisor.start_link(children, strategy: :rest_for_one, name: Module.concat(name, "Supervisor"))
  end

  defp ensure_scope do
    case :pg.start(Phoenix.PubSub) do
      {:ok, _} -> :ok
      {:error, {:already_started, _}} -> :ok
    end
  end

  def subscribe(pubsub, topic, opts \\ []) when is_binary(topic) do
    {:ok, _} = Registry.register(pubsub, topic, opts[:metadata])
    :ok
  end

  def unsubscribe(pubsub, topic), do: Registry.unregister(pubsub, topic)

  def broadcast(pubsub, topic, message, dispatcher \\ __MODULE__) do
    {:ok, {adapter, name}} = Registry.meta(pubsub, :pubsub)

    with :ok <- adapter.broadcast(name, topic, message, dispatcher) do
      dispatch(pubsub, :none, topic, message, dispatcher)
    end
  end

  def broadcast_from(pubsub, from, topic, message, dispatcher \\ __MODULE__) do
    {:ok, {adapter, name}} = Registry.meta(pubsub, :pubsub)

    with :ok <- adapter.broadcast(name, topic, message, dispatcher) do
      dispatch(pubsub, from, topic, message, dispatcher)
    end
  end

  def local_broadcast(pubsub, topic, message, dispatcher \\ __MODULE__),
    do: dispatch(pubsub, :none, topic, message, dispatcher)

  def direct_broadcast(node_name, pubsub, topic, message, dispatcher \\ __MODULE__) do
    {:ok, {adapter, name}} = Registry.meta(pubsub, :pubsub)
    adapter.direct_broadcast(name, node_name, topic, message, dispatcher)
  end

  def dispatch(entries, :none, message) do
    for {pid, _} <- entries, do: send(pid, message)
    :ok
  end

  def dispatch(entries, from, message) do
    for {pid, _} <- entries, pid != from, do: send(pid, message)
    :ok
  end

  defp dispatch(pubsub, from, topic, message, dispatcher) do
    Registry.dispatch(pubsub, topic, {dispatcher, :dispatch, [from, message]})
    :ok
  end
end

defmodule Phoenix.PubSub.PG2 do
  use Supervisor

  def start_link({_name, adapter_name, _pool, _bpool} = arg),
    do: Supervisor.start_link(__MODULE__, arg, name: Module.concat(adapter_name, "Supervisor"))

  def broadcast(adapter_name, topic, message, dispatcher) do
    message = {:forward_to_local, topic, message, dispatcher}

    for pid <- :pg.get_members(Phoenix.PubSub, group(adapter_name)), node(pid) != node() do
      send(pid, message)
    end

    :ok
  end

  def direct_broadcast(adapter_name, node_name, topic, message, dispatcher) do
    send({group(adapter_name), node_name}, {:forward_to_local, topic, message, dispatcher})
    :ok
  end

  defp group(adapter_name) do
    groups = :persistent_term.get(adapter_name)
    elem(groups, :erlang.phash2(self(), tuple_size(groups)))
  end

  @impl true
  def init({name, adapter_name, pool_size, broadcast_pool_size}) do
    groups = [adapter_name | for(n <- 2..pool_size//1, do: :"#{adapter_name}_#{n}")]
    :persistent_term.put(adapter_name, groups |> Enum.take(broadcast_pool_size) |> List.to_tuple())

    children =
      for group <- groups do
        Supervisor.child_spec({Phoenix.PubSub.PG2Worker, {name, group}}, id: group)
      end

    Supervisor.init(children, strategy: :one_for_one)
  end
end

defmodule Phoenix.PubSub.PG2Worker do
  use GenServer

  def start_link({name, group}), do: GenServer.start_link(__MODULE__, {name, group}, name: group)

  @impl true
  def init({name, group}) do
    :ok = :pg.join(Phoenix.PubSub, group, self())
    {:ok, name}
  end

  @impl true
  def handle_info({:forward_to_local, topic, message, dispatcher}, pubsub) do
    Phoenix.PubSub.local_broadcast(pubsub, topic, message, dispatcher)
    {:noreply, pubsub}
  end

  def handle_info(_, pubsub), do: {:noreply, pubsub}
end
