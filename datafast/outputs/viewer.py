"""The dataset viewer: one self-contained HTML page of an output file (`datafast view FILE`, `dataset.inspect()`).

The page holds everything it shows, so it works offline and can be sent to someone: the records, the dropped
records with their reasons, the run's `summary.json`, the report's figures (`report.json`) and its PNG plots
(as data URIs). It is written to the run folder (`x.jsonl` -> `x.datafast/viewer.html`).

The records are embedded column by column (`encode_records`): a column with few distinct values (label,
language, model, template, each placeholder) as a list of its values and one small integer per record, which
keeps a 100k-record page small and lets the page filter with integer comparisons. The page's script renders
only the current page of the table, so it stays fast however many records there are.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import webbrowser
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from datafast._files import run_folder, write_atomically
from datafast.errors import ConfigError
from datafast.outputs.dropped import dropped_path
from datafast.quality.records import guess_text_fields
from datafast.quality.report import FILLED_FROM_FIELD, read_records

VIEWER_NAME = "viewer.html"
PLOTS = ("lengths.png", "counts.png", "models.png")
# Columns that name a category (filterable) whenever their values are scalars, however many records there are.
CATEGORY_COLUMNS = frozenset(
    {"label", "language", "model_id", "dataset_type", "prompt_template", "reason", "document_type", "topic",
     "subtopic", "persona", "domain", "chosen_model_id", "rejected_model_id", "judge_model_id", "step"}
)  # fmt: skip
# Never categories: identifiers.
IDENTIFIER_COLUMNS = frozenset({"uuid", "request_id"})
MAX_CATEGORY_VALUES = 1000
# The files `datafast view --serve` serves from the run folder (nothing else there: not the run store).
SERVED_SUFFIXES = (".html", ".png", ".json")
SERVED_EXCLUDED = frozenset({"store.sqlite"})


def viewer_path(output_file: str | Path) -> Path:
    """Where the viewer page of an output file goes: `x.datafast/viewer.html`."""
    return run_folder(output_file) / VIEWER_NAME


# -- the data the page embeds --------------------------------------------------------------------------


def encode_records(records: Sequence[Mapping[str, Any]], text_fields: Sequence[str] = ()) -> dict[str, Any]:
    """Records as columns: `{"count": n, "columns": [...]}`, one column per top-level field in first-seen order
    and one per placeholder (`path` ["placeholders", name]). A column is `{"name", "path", "kind", ...}`:
    kind "category" has `values` (distinct, first-seen order) and `codes` (an index into them per record),
    kind "raw" has `values` (one per record). `absent` lists the records without the field (their code or
    value is -1 or null), when there are any; `repeats` names the field a placeholder repeats (`label_name`:
    `label`). `text_fields` are never categories."""
    keys: dict[str, None] = {}
    names: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
        placeholders = record.get("placeholders")
        if isinstance(placeholders, Mapping):
            names.update(dict.fromkeys(placeholders))
    columns = []
    for key in keys:
        if key == "placeholders" and names:
            for name in names:
                cells = [_placeholder(record, name) for record in records]
                column = _column(name, ["placeholders", name], cells, always_category=True)
                if FILLED_FROM_FIELD.get(name) in keys:
                    column["repeats"] = FILLED_FROM_FIELD[name]  # {{label_name}} is the label: no filter of its own
                columns.append(column)
            continue
        cells = [(key in record, record.get(key)) for record in records]
        category = key in CATEGORY_COLUMNS
        allowed = key not in IDENTIFIER_COLUMNS and key not in text_fields and key != "placeholders"
        columns.append(_column(key, [key], cells, always_category=category, may_be_category=allowed))
    return {"count": len(records), "columns": columns}


def _placeholder(record: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    placeholders = record.get("placeholders")
    if isinstance(placeholders, Mapping) and name in placeholders:
        return True, placeholders[name]
    return False, None


def _column(
    name: str,
    path: list[str],
    cells: list[tuple[bool, Any]],
    *,
    always_category: bool = False,
    may_be_category: bool = True,
) -> dict[str, Any]:
    absent = [i for i, (present, _) in enumerate(cells) if not present]
    column: dict[str, Any] = {"name": name, "path": path}
    if absent:
        column["absent"] = absent
    present = [value for ok, value in cells if ok]
    scalar = (str, bool, int, float) if always_category else (str, bool)
    if (always_category or may_be_category) and all(v is None or isinstance(v, scalar) for v in present):
        index: dict[tuple[str, Any], int] = {}
        for value in present:
            index.setdefault((type(value).__name__, value), len(index))
        few = len(index) <= max(1, len(cells) // 2) or always_category
        if len(index) <= MAX_CATEGORY_VALUES and few:
            column["kind"] = "category"
            column["values"] = [value for _, value in index]
            column["codes"] = [index[(type(v).__name__, v)] if ok else -1 for ok, v in cells]
            return column
    column["kind"] = "raw"
    column["values"] = [value if ok else None for ok, value in cells]
    return column


def viewer_data(output_file: str | Path) -> dict[str, Any]:
    """Everything the viewer page of `output_file` shows, as one JSON-ready dict: the records, the dropped
    records (with a `reason` column), the run summary, the report, the plots as data URIs, and notes on what
    is missing. A missing or unreadable output file is a `ConfigError` naming it."""
    path = Path(output_file)
    folder = run_folder(path)
    records = list(read_records(path))
    notes: list[str] = []
    report = _read_json(folder / "report.json")
    summary = _read_json(folder / "summary.json")
    text_fields = _text_fields(report, records)
    dropped_file = dropped_path(path)
    dropped: dict[str, Any] | None = None
    if dropped_file.is_file():
        dropped = encode_records(list(_dropped_records(dropped_file)), text_fields)
    else:
        notes.append(f"no dropped records file ({dropped_file.name})")
    if summary is None:
        notes.append(f"no run summary ({folder.name}/summary.json): the file was not written by a datafast run here")
    if report is None:
        notes.append(f"no report ({folder.name}/report.json): run `datafast inspect {path.name}` to make one")
    plots = {
        name: "data:image/png;base64," + base64.b64encode((folder / name).read_bytes()).decode("ascii")
        for name in PLOTS
        if (folder / name).is_file()
    }
    return {
        "file": path.name,
        "folder": folder.name,
        "made": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "text_fields": list(text_fields),
        "records": encode_records(records, text_fields),
        "dropped": dropped,
        "dropped_file": dropped_file.name,
        "summary": summary,
        "report": report,
        "plots": plots,
        "notes": notes,
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text_fields(report: Mapping[str, Any] | None, records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    fields = report.get("text_fields") if report else None
    if isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields):
        return tuple(fields)
    return guess_text_fields(records[0]) if records else ("text",)


def _dropped_records(path: Path) -> Iterable[dict[str, Any]]:
    """The dropped-records file's lines as records with their `reason` first."""
    for number, line in enumerate(read_records(path), 1):
        record = line.get("record")
        if not isinstance(record, dict):
            raise ConfigError(f"{path}, line {number}: no 'record' object; expected lines written by datafast")
        yield {"reason": line.get("reason"), **record}


# -- the page ------------------------------------------------------------------------------------------


def render_page(data: Mapping[str, Any]) -> str:
    """The viewer page for `viewer_data`'s dict: the template with its style, script and data inlined."""
    assets = files("datafast.outputs") / "viewer_assets"
    parts = {
        "TITLE": html.escape(f"{data['file']} · datafast viewer"),
        "STYLE": (assets / "viewer.css").read_text(encoding="utf-8"),
        "SCRIPT": (assets / "viewer.js").read_text(encoding="utf-8"),
        "DATA": embed_json(data),
    }
    template = (assets / "viewer.html").read_text(encoding="utf-8")
    # One pass, so that nothing inserted (a file name, a record) is taken for a marker.
    return re.sub(r"\{\{(TITLE|STYLE|SCRIPT|DATA)\}\}", lambda m: parts[m[1]], template)


def embed_json(data: Any) -> str:
    """JSON safe inside a `<script type="application/json">` element: every `<` escaped, so no value can
    close the element (`</script>`) or open a comment. Non-finite numbers become null (JSON has none)."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_viewer(output_file: str | Path, target: str | Path | None = None) -> Path:
    """Write the viewer page of `output_file` (atomically) to `target`, by default `viewer_path(output_file)`.
    Returns the page's path."""
    page = render_page(viewer_data(output_file))
    return write_atomically(target or viewer_path(output_file), page.encode("utf-8"), durable=False)


def open_in_browser(url: str) -> bool:
    """Open `url` in the user's web browser; False where there is none to open (a server, a container, a
    terminal whose only browser is a text one, which would take the terminal over)."""
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return False
    if type(controller) is webbrowser.GenericBrowser and not os.environ.get("BROWSER"):
        return False  # lynx, w3m, www-browser: run in the foreground of this terminal
    try:
        return bool(controller.open(url))
    except OSError:
        return False


def inspect_dataset(dataset_or_output_file: Any, *, open_browser: bool = True) -> Path:
    """Write the viewer page of a dataset (anything with `config.output_file`, as a `DatasetBase`) or of an
    output file to its run folder and open it in the browser; where no browser can be opened (or with
    `open_browser=False`), print its path. Returns the page's path."""
    config = getattr(dataset_or_output_file, "config", None)
    output_file = getattr(config, "output_file", None) if config is not None else dataset_or_output_file
    if not isinstance(output_file, str | Path):
        raise ConfigError(
            f"inspect_dataset takes a dataset or an output file path, got {type(dataset_or_output_file).__name__}"
        )
    return show_page(write_viewer(output_file), open_browser=open_browser)


def show_page(page: Path, *, open_browser: bool = True, hint: str = "") -> Path:
    """Open the written viewer `page` in the browser and say so, or print where it is (with `hint` after)."""
    if open_browser and open_in_browser(page.as_uri()):
        print(f"viewer opened in your browser: {page}")
    else:
        print(f"viewer written: {page} (open it in a browser{hint})")
    return page


# -- serving -------------------------------------------------------------------------------------------


class ViewerRequestHandler(SimpleHTTPRequestHandler):
    """Serves the viewer page (at `/` too), the report and the plots from a run folder; nothing else there
    (no listing, not the run store). Quiet: no line per request."""

    def do_GET(self) -> None:
        if self.path in ("/", ""):
            self.path = "/" + VIEWER_NAME
        if not self._allowed():
            self.send_error(404, "not served: only the viewer page, the report and the plots are")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if not self._allowed():
            self.send_error(404)
            return
        super().do_HEAD()

    def _allowed(self) -> bool:
        name = unquote(self.path.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
        return "/" not in name and name.endswith(SERVED_SUFFIXES) and name not in SERVED_EXCLUDED

    def log_message(self, format: str, *args: Any) -> None:
        pass


def viewer_server(folder: str | Path, port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server of the viewer in `folder` on 127.0.0.1:`port` (0: any free port), not yet serving
    (call `serve_forever`). A port in use is a `ConfigError` that says to choose another."""

    def handler(*args: Any) -> ViewerRequestHandler:
        return ViewerRequestHandler(*args, directory=str(folder))

    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve on 127.0.0.1:{port} ({exc.strerror}): choose another with --port N") from None
