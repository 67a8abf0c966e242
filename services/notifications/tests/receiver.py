"""A stand-in for an SMS provider and a partner system, run as its own process by the
tests: logs every request (path, headers, body) as a JSON line, answers 500 to the first
N requests of a path given as `path=N`, and 302 to `location` for `path>location`.

    python receiver.py PORT LOGFILE [/hook=2 /moved>/elsewhere ...]
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
FAILURES = {arg.split("=")[0]: int(arg.split("=")[1]) for arg in sys.argv[3:] if "=" in arg}
REDIRECTS = dict(arg.split(">") for arg in sys.argv[3:] if ">" in arg)
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with LOCK:
            failing = FAILURES.get(self.path, 0) > 0
            if failing:
                FAILURES[self.path] -= 1
            status = 302 if self.path in REDIRECTS else 500 if failing else 200
            with open(LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps({"path": self.path, "method": self.command,
                                      "headers": dict(self.headers),
                                      "body": body.decode("utf-8"), "answered": status},
                                     ensure_ascii=False) + "\n")
        self.send_response(status)
        if status == 302:
            self.send_header("Location", REDIRECTS[self.path])
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
