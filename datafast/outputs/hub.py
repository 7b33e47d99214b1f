"""Publishing a dataset on the Hugging Face Hub: Parquet shards per split and a dataset card, in one commit.

What is uploaded is computed by `hub_files`, a pure function (records in, file paths and bytes out);
`push_to_hub` checks its arguments before any network access, then creates the repo and commits those files
through `huggingface_hub.HfApi`."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datafast.errors import ConfigError, DatafastError
from datafast.outputs.card import HUB_CARDS, HubCard, card_metadata, dataset_card
from datafast.outputs.export import Record, as_dicts, to_hf_dataset
from datafast.outputs.splits import check_train_size, num_test_records, split_indices

if TYPE_CHECKING:
    from huggingface_hub import HfApi

_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHARD = re.compile(r"^data/[A-Za-z0-9_]+-\d{5}-of-\d{5}\.parquet$")


class HubError(DatafastError):
    """The Hub could not be reached, or refused the push: one line saying why and what to do."""


@dataclass(frozen=True)
class HubUpload:
    """The files of one push: path in the repo -> bytes (README.md and `data/<split>-00000-of-00001.parquet`),
    and the number of records in each split."""

    files: dict[str, bytes]
    split_sizes: dict[str, int]

    @property
    def card(self) -> str:
        return self.files["README.md"].decode("utf-8")


def check_repo_id(repo_id: str) -> str:
    """A Hub dataset id is `namespace/name`: letters, digits, '-', '_', '.', not starting with '-' or '.',
    no '--' or '..', at most 96 characters per part."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(
        _REPO_PART.match(p) and len(p) <= 96 and "--" not in p and ".." not in p and not p.endswith((".", "-"))
        for p in parts
    ):
        raise ConfigError(
            f"repo id {repo_id!r} is not valid: use 'namespace/name' (your user or organisation, a slash, the "
            "dataset name), with letters, digits, '-', '_' and '.', e.g. 'me/sentiment'"
        )
    return repo_id


def hub_files(
    records: Iterable[Record],
    repo_id: str,
    *,
    config: Mapping[str, Any] | None = None,
    train_size: float | None = None,
    seed: int = 42,
    class_names: Sequence[str] | None = None,
    license: str = "other",
    run_summary: Mapping[str, Any] | None = None,
    text_fields: Sequence[str] | None = None,
    hub_card: HubCard | None = None,
    shuffle: bool = True,
) -> HubUpload:
    """The exact files `push_to_hub` uploads. With `train_size`, a `train` and a `test` split (see
    `datafast.outputs.splits.split_indices`; with `shuffle=False`, the first records in file order are the
    train split and the last ones the test split, of the same sizes); without, one `train` split. The card's
    figures come from `datafast.quality.build_report` over all records, measuring `text_fields` (the dataset
    type's `quality_fields()`; None: guessed from the first record); `hub_card` is the dataset type's own (by
    default the one registered for the config's or the records' `dataset_type`)."""
    from datafast.quality.report import build_report

    check_repo_id(repo_id)
    train_size = check_train_size(train_size)
    rows = as_dicts(records)
    if not rows:
        raise ConfigError("the dataset has no records: generate it first (nothing to push)")
    if train_size is None:
        splits = {"train": rows}
    elif not shuffle:
        n_train = len(rows) - num_test_records(len(rows), train_size)
        splits = {"train": rows[:n_train], "test": rows[n_train:]}
    else:
        train, test = split_indices(rows, train_size, seed, by="label")
        splits = {"train": [rows[i] for i in train], "test": [rows[i] for i in test]}
    dataset_type = (config or {}).get("dataset_type") or rows[0].get("dataset_type")
    hub_card = hub_card or HUB_CARDS.get(str(dataset_type)) or HubCard()
    languages = sorted({str(r["language"]) for r in rows if r.get("language")}) or ["en"]
    metadata = card_metadata(
        card=hub_card,
        languages=languages,
        num_records=len(rows),
        splits=list(splits),
        license=license,
        pretty_name=repo_id.split("/")[-1],
    )
    card = dataset_card(
        repo_id=repo_id,
        metadata=metadata,
        card=hub_card,
        config=config,
        splits=splits,
        report=build_report(rows, text_fields),
        run_summary=run_summary,
    )
    files = {"README.md": card.encode("utf-8")}
    for split, split_rows in splits.items():
        shard = _parquet_bytes(to_hf_dataset(split_rows, class_names=class_names))
        files[f"data/{split}-00000-of-00001.parquet"] = shard
    return HubUpload(files=files, split_sizes={split: len(r) for split, r in splits.items()})


def _parquet_bytes(dataset: Any) -> bytes:
    """The Parquet shard of a `datasets.Dataset`, its features (ClassLabel names) kept in the schema metadata."""
    from datasets.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        buffer = io.BytesIO()
        dataset.to_parquet(buffer)
        return buffer.getvalue()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def push_to_hub(
    records: Iterable[Record],
    repo_id: str,
    *,
    config: Mapping[str, Any] | None = None,
    train_size: float | None = None,
    seed: int = 42,
    private: bool = True,
    token: str | None = None,
    class_names: Sequence[str] | None = None,
    license: str = "other",
    run_summary: Mapping[str, Any] | None = None,
    api: HfApi | None = None,
    commit_message: str = "Upload dataset generated with datafast",
    text_fields: Sequence[str] | None = None,
    hub_card: HubCard | None = None,
    shuffle: bool = True,
    upload_card: bool = True,
) -> str:
    """Create (or reuse) the dataset repo `repo_id` and upload the records as Parquet shards with a dataset
    card (unless `upload_card=False`: the repo's README.md is then left as it is), in one commit. Returns the
    repo URL. `shuffle=False` splits in file order (see `hub_files`). The token is `token`, else `HF_TOKEN` or
    the saved login;
    `api` replaces the `HfApi` client (another endpoint, a test double). A Hub that cannot be reached or
    that refuses the push raises `HubError`, one line, before or instead of the commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    check_repo_id(repo_id)
    check_train_size(train_size)
    token = token or get_token()
    if not token:
        raise ConfigError(
            "no Hugging Face token: set HF_TOKEN (a write token from your Hub settings), log in with "
            "`hf auth login`, or pass token="
        )
    upload = hub_files(
        records,
        repo_id,
        config=config,
        train_size=train_size,
        seed=seed,
        class_names=class_names,
        license=license,
        run_summary=run_summary,
        text_fields=text_fields,
        hub_card=hub_card,
        shuffle=shuffle,
    )
    files = dict(upload.files)
    if not upload_card:
        del files["README.md"]
    api = api or HfApi()
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        stale = [path for path in _existing_shards(api, repo_id, token) if path not in files]
        api.create_commit(
            repo_id,
            operations=[
                *(CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()),
                *(CommitOperationDelete(path_in_repo=path) for path in stale),
            ],
            commit_message=commit_message,
            repo_type="dataset",
            token=token,
        )
    except Exception as exc:
        error = hub_error(exc, repo_id, getattr(api, "endpoint", "the Hub"))
        if error is None:
            raise
        raise error from None
    return str(repo_url)


def hub_error(exc: BaseException, repo_id: str, endpoint: str) -> HubError | None:
    """The one-line `HubError` for a failed Hub call: an HTTP refusal (bad token, no rights, the Hub's own
    trouble) or no connection at all; None for an exception that is neither (a bug, to show as it is)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if status == 401:
            advice = "the token was refused: set a valid write token (HF_TOKEN, or --token-env VAR)"
        elif status == 403:
            advice = f"the token may not write to {repo_id}: use a write token with access to its namespace"
        elif status >= 500:
            advice = "the Hub has trouble on its side: run the same command again in a while"
        else:
            advice = "check the repo id and the token"
        return HubError(f"pushing to {repo_id}: the Hub at {endpoint} answered {status} ({first_line}); {advice}")
    if isinstance(exc, _network_errors()):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return HubError(
            f"cannot reach the Hugging Face Hub at {endpoint} ({reason}): check the network connection (and "
            "HF_ENDPOINT, if set), then run the same command again"
        )
    return None


def _network_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of the HTTP clients huggingface_hub may use (whichever are loaded), and OSError."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        loaded = sys.modules.get(module)
        error = getattr(loaded, name, None) if loaded is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def _existing_shards(api: HfApi, repo_id: str, token: str) -> list[str]:
    """The split shards an earlier push left in `data/`. A new push deletes those it does not overwrite: the
    Hub's loader reads every `data/<split>-*` file, so an old test split would otherwise still be served."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        entries = list(api.list_repo_tree(repo_id, "data", repo_type="dataset", token=token))
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):  # a new repo: nothing to delete
        return []
    return [entry.path for entry in entries if _SHARD.match(entry.path)]
