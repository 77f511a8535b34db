"""One llama.cpp engine per user, model file and engine settings, shared by every editor window
(`sharedEngine`): host.py is the engine process, client.py a server's side of it, wire.py the
socket and its checks, spawn.py finding or starting it, fairness.py whose request runs next."""

from __future__ import annotations

from lsp_server.engines import EventSink
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.local.supervisor import LocalEngine
from lsp_server.engines.shared.client import SharedEngine
from lsp_server.engines.shared.wire import supported

__all__ = ["SharedEngine", "local_engine"]


def local_engine(
    config: WorkerConfig, shared: bool, on_event: EventSink | None = None
) -> LocalEngine | SharedEngine:
    """The shared engine when asked for and the OS has private sockets; else a worker of ours."""
    if shared and supported():
        return SharedEngine(config, on_event=on_event)
    return LocalEngine(config, on_event=on_event)


def shared_info(engine: object) -> dict[str, object] | None:
    """For seedCoder/stats: the shared engine's process and clients (None: not shared)."""
    return engine.shared_info() if isinstance(engine, SharedEngine) else None


def describe(engine: object) -> str:
    """doctor's line on which engine process serves this server."""
    info = shared_info(engine)
    if info is None:
        return f"engine: a worker of this process only (pid {getattr(engine, 'pid', None)})"
    clients = info["clients"]
    return (
        f"engine: shared, process {info['engine_pid']} (llama.cpp worker "
        f"{getattr(engine, 'pid', None)}), {clients} client{'s' if clients != 1 else ''} "
        f"attached (this one included), socket {info['socket']}"
    )
