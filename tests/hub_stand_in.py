"""A local stand-in for the few Hugging Face Hub endpoints `HfApi.create_repo`, `HfApi.list_repo_tree` and
`HfApi.create_commit` use: repo creation, a folder's listing, README YAML validation, preupload (every file
"regular", so contents travel inline) and the NDJSON commit with added and deleted files. It keeps what was
committed, per repo, for tests to read back."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HubStandIn:
    """Start with `with HubStandIn() as hub:`; point `HfApi(endpoint=hub.endpoint)` at it."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Authorization header
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                hub.requests.append(("GET", path, self.headers.get("Authorization")))
                repo_id, _, folder = path[len("/api/datasets/") :].partition("/tree/main/")
                if not path.startswith("/api/datasets/") or repo_id not in hub.repos:
                    self._not_found("RepoNotFound")
                    return
                listed = [p for p in hub.files.get(repo_id, {}) if p.startswith(folder + "/")]
                if not listed:
                    self._not_found("EntryNotFound")
                    return
                entries = [
                    {"type": "file", "path": p, "size": len(hub.files[repo_id][p]), "oid": "0" * 40} for p in listed
                ]
                self._json(entries)

            def _not_found(self, code: str) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                hub.requests.append(("POST", path, self.headers.get("Authorization")))
                if path == "/api/repos/create":
                    payload = json.loads(body)
                    repo_id = f"{payload['organization']}/{payload['name']}"
                    hub.repos[repo_id] = payload
                    self._json({"url": f"{hub.endpoint}/datasets/{repo_id}", "name": repo_id})
                elif path == "/api/validate-yaml":
                    self._json({"errors": [], "warnings": []})
                elif path.startswith("/api/datasets/") and "/preupload/" in path:
                    files = json.loads(body)["files"]
                    self._json(
                        {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
                    )
                elif path.startswith("/api/datasets/") and "/commit/" in path:
                    repo_id = path[len("/api/datasets/") :].split("/commit/")[0]
                    stored = hub.files.setdefault(repo_id, {})
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            value = item["value"]
                            stored[value["path"]] = base64.b64decode(value["content"])
                        elif item["key"] == "deletedFile":
                            del stored[item["value"]["path"]]
                    self._json({"commitUrl": f"{hub.endpoint}/datasets/{repo_id}/commit/1", "commitOid": "1" * 40})
                else:
                    self.send_error(404)

            def _json(self, data: dict[str, Any] | list[Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
