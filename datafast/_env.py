"""Process-wide defaults that must be in place before LiteLLM is imported.

LiteLLM downloads a price map and an Anthropic beta-header table from the internet at import or first use,
and hangs for seconds where the network is closed. We default to the copies it ships, unless the user chose.
"""

import os

_OFFLINE_DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
}


def apply_offline_defaults() -> None:
    for name, value in _OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
