"""Where a run's engine runs: in this process (`backend="local"`, the default) or on a Ray cluster
(`backend="ray"`, or `RayBackend(...)` for its options; `datafast.engine.ray_backend`). Light to import: Ray itself
is imported only when a run goes there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datafast.errors import ConfigError

INSTALL_HINT = 'the Ray backend needs Ray, an optional extra: pip install "datafast[ray]"'


@dataclass(frozen=True)
class RayBackend:
    """Where and how a run goes on Ray. `address`: the cluster (`"auto"`: the one started on this machine with
    `ray start`; `"ray://host:10001"`: Ray Client; None: the one this process is already connected to with
    `ray.init`, else a local cluster started for the run and stopped after it). `shards`: how many parts the run
    is split into (None: as the run was split before, else the cluster's CPUs, or the largest number of endpoints
    a provider has where that does not divide evenly). `max_retries`: how often Ray runs a shard again whose
    worker died."""

    address: str | None = None
    shards: int | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.shards is not None and (not isinstance(self.shards, int) or self.shards < 1):
            raise ConfigError(f"RayBackend: shards must be a whole number >= 1, got {self.shards!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"RayBackend: max_retries must be a whole number >= 0, got {self.max_retries!r}")


def ray_backend(backend: str | RayBackend) -> RayBackend | None:
    """The Ray options a `backend=` argument asks for, or None for the local backend."""
    if isinstance(backend, RayBackend):
        return backend
    if backend == "local":
        return None
    if backend == "ray":
        return RayBackend()
    raise ConfigError(f"backend must be 'local' or 'ray' (or a RayBackend), got {backend!r}")


def import_ray() -> Any:
    """The `ray` module, or the error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray
