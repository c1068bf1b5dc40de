"""Wall time of CLI commands (median of N runs), printed as figures.

`swarmlet version` is timed against a minimal stdlib HTTP responder on a unix socket, so the
figure is the CLI's own share of the round trip (start-up, parse, request, render).

    python bench/cli_startup.py [--runs 20] [--bin "python -m swarmlet"]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shlex
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = json.dumps({"Version": "bench", "ApiVersion": "1.41", "MinAPIVersion": "1.12"}).encode()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def median_ms(argv: list[str], runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument(
        "--bin", default=os.environ.get("SWARMLET_BIN") or f"{sys.executable} -m swarmlet"
    )
    opts = ap.parse_args()
    exe = shlex.split(opts.bin)
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "api.sock")
        server = _Server(sock, _Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        env = dict(os.environ, SWARMLET_HOST=f"unix://{sock}")
        rows = [
            ("python -c pass", median_ms([sys.executable, "-c", "pass"], opts.runs, env)),
            ("swarmlet --help", median_ms([*exe, "--help"], opts.runs, env)),
            (
                "swarmlet service create --help",
                median_ms([*exe, "service", "create", "--help"], opts.runs, env),
            ),
            ("swarmlet version (round trip)", median_ms([*exe, "version"], opts.runs, env)),
        ]
        if shutil.which("docker"):
            rows.append(("docker --help", median_ms(["docker", "--help"], opts.runs, env)))
        server.shutdown()
        server.server_close()
    print(f"median of {opts.runs} runs, {opts.bin}")
    for name, ms in rows:
        print(f"  {name:<34} {ms:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
