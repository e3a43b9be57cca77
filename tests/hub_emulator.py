"""A local stand-in for the Hugging Face Hub's model API, for tests: huggingface-hub's real
client talks to it over HTTP (HF_ENDPOINT or HfApi(endpoint=...)).

It answers GET /api/models/{owner}/{name} (and …/revision/{rev}) from recorded JSON in a
folder, read on every request so a test can change a card between imports, and behaves as
the Hub does for the awkward cases: a gated repo without the right token (401, GatedRepo),
a repo that is not there (401, RepoNotFound), and rate limiting (429).

    python -m tests.hub_emulator PORT CARDS_FOLDER
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN = "hf_test_token_0123456789"
RATE_LIMITED = "acme/rate-limited"


class HubHandler(BaseHTTPRequestHandler):
    cards: Path

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not path.startswith("/api/models/"):
            self._answer(404, {"error": "Sorry, we can't find the page you are looking for."})
            return
        parts = path.removeprefix("/api/models/").split("/")
        repo_id = "/".join(parts[:2])
        if repo_id == RATE_LIMITED:
            self._answer(429, {"error": "Too many requests"}, {"X-Error-Message": "rate limited"})
            return
        card = self.cards / (repo_id.replace("/", "__") + ".json")
        if not card.is_file():
            message = "Repository not found"
            self._answer(
                401,
                {"error": message},
                {"X-Error-Code": "RepoNotFound", "X-Error-Message": message},
            )
            return
        data = json.loads(card.read_text())
        if data.get("gated") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            message = f"Access to model {repo_id} is restricted. You must have access to it."
            self._answer(
                401, {"error": message}, {"X-Error-Code": "GatedRepo", "X-Error-Message": message}
            )
            return
        self._answer(200, data)


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    HubHandler.cards = folder
    ThreadingHTTPServer(("127.0.0.1", port), HubHandler).serve_forever()


if __name__ == "__main__":
    main()
