"""Building providers from the `llms:` entries of a config file."""

from __future__ import annotations

import inspect
from typing import Any

from datafast.errors import ConfigError, MissingAPIKeyError
from datafast.llms.base import PLAN_ONLY_KEY, LLMProvider
from datafast.llms.local_model import LocalModelUnavailable
from datafast.llms.providers import PROVIDERS


def providers_from_specs(
    specs: list[dict[str, Any]], source: str, *, require_keys: bool = True
) -> list[LLMProvider]:
    """One provider per entry: `{provider: openai, model_id: ..., temperature: ...}`. API keys are refused
    here: a config file gets shared and committed, keys belong in environment variables. With
    `require_keys=False` (for `datafast plan`) a provider whose key is not set is still built."""
    providers = []
    for i, spec in enumerate(specs):
        where = f"{source}: llms[{i}]"
        spec = dict(spec)
        name = spec.pop("provider", None)
        if name not in PROVIDERS:
            raise ConfigError(f"{where}: provider {name!r} is unknown; use one of: {', '.join(PROVIDERS)}")
        cls = PROVIDERS[name]
        if "api_key" in spec:
            variable = " or ".join(cls.api_key_env) or "the provider's key variable"
            raise ConfigError(f"{where}: do not put api_key in a config file; set {variable} in the environment")
        allowed = settings_of(cls)
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            owners = [other for other, c in PROVIDERS.items() if unknown[0] in settings_of(c)]
            if owners:
                raise ConfigError(
                    f"{where}: {unknown[0]!r} is a setting of provider {', '.join(owners)} only; provider {name!r} "
                    f"does not take it. Allowed: provider, {', '.join(allowed)}"
                )
            raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; allowed: provider, {', '.join(allowed)}")
        try:
            try:
                providers.append(cls(**spec))
            except MissingAPIKeyError:
                if require_keys:
                    raise
                providers.append(cls(**spec, api_key=PLAN_ONLY_KEY))
        except (ConfigError, LocalModelUnavailable) as exc:
            raise type(exc)(f"{where}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return providers


def settings_of(cls: type[LLMProvider]) -> list[str]:
    """The keyword arguments a provider class takes (its own, then those its `**settings` passes on to the
    classes it derives from), less `api_key`, which a config file may not hold."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names += [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return [n for n in dict.fromkeys(names) if n not in ("self", "api_key")]
