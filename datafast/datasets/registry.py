"""Which dataset type runs a given config: every type registers itself with `@register` on its class."""

from __future__ import annotations

from typing import TypeVar

from datafast.datasets.base import DatasetBase
from datafast.outputs.card import HUB_CARDS
from datafast.schema.base_config import CONFIG_TYPES, DatasetConfig, TypeRegistry

# Every dataset type by its config's `dataset_type`, and by the config's `dataset_type_aliases` (0.0.36's
# names); the configs themselves: `CONFIG_TYPES`.
DATASET_TYPES: TypeRegistry[type[DatasetBase]] = TypeRegistry()

D = TypeVar("D", bound=type[DatasetBase])


def register(dataset_class: D) -> D:
    """Make a dataset type known by its config's `dataset_type`: a config file naming it runs it, its
    config class is in `CONFIG_TYPES` (as every config subclass is once defined) and its `hub_card` in
    `HUB_CARDS` (for a file pushed without its type at hand). Use as a decorator."""
    name = dataset_class.config_class.model_fields["dataset_type"].default
    if not isinstance(name, str):
        raise TypeError(f"{dataset_class.config_class.__name__} must declare dataset_type: Literal['name'] = 'name'")
    taken = DATASET_TYPES.get(name)
    if taken is not None and taken.__qualname__ != dataset_class.__qualname__:
        raise TypeError(f"dataset_type {name!r} is taken by {taken.__qualname__}")
    DATASET_TYPES[name] = dataset_class
    CONFIG_TYPES[name] = dataset_class.config_class
    for alias in dataset_class.config_class.dataset_type_aliases:
        DATASET_TYPES.add_alias(alias, name)
        CONFIG_TYPES.add_alias(alias, name)
    HUB_CARDS[name] = dataset_class.hub_card
    return dataset_class


def dataset_for(config: DatasetConfig) -> DatasetBase:
    """The dataset type of `config`, built on it."""
    return DATASET_TYPES[config.dataset_type](config)
