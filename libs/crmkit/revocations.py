"""Which still-unexpired access tokens to refuse, kept in memory so verification stays
local: revoked sessions (logout), per-user cut-offs (deactivation, role or unit change) and
per-subtree cut-offs (an org unit moved). Each process that verifies tokens (the gateway,
the gRPC server) fills one from accounts' `list_revocations` and keeps it current from
accounts' events, with the client its event loop allows."""
import time

EVENTS = ("session_revoked", "user_tokens_revoked", "org_unit_moved")


class Revocations:
    def __init__(self, horizon_seconds: int):
        # Entries older than one access-token lifetime protect nothing: every token they
        # could refuse has expired.
        self.horizon = horizon_seconds + 60
        self.sessions: dict[str, float] = {}
        self.users: dict[int, float] = {}
        self.paths: dict[str, float] = {}
        self.synced = False

    def is_revoked(self, claims: dict) -> bool:
        if claims.get("sid") in self.sessions:
            return True
        issued = claims.get("iat", 0)
        cut = self.users.get(int(claims["sub"]))
        if cut is not None and issued < int(cut):
            return True
        path = claims.get("path") or ""
        return any(path.startswith(prefix) and issued < int(at)
                   for prefix, at in self.paths.items())

    def load(self, snapshot: dict) -> None:
        now = time.time()
        for session_id in snapshot.get("session_ids", ()):
            self.sessions[session_id] = now
        for user_id, at in snapshot.get("users", {}).items():
            self.users[int(user_id)] = max(at, self.users.get(int(user_id), 0))
        self.synced = True

    def apply(self, event_type: str, data: dict) -> None:
        now = time.time()
        if event_type == "session_revoked":
            self.sessions[data["session_id"]] = now
        elif event_type == "user_tokens_revoked":
            user_id = int(data["user_id"])
            self.users[user_id] = max(data["not_before"], self.users.get(user_id, 0))
        elif event_type == "org_unit_moved":
            self.paths[data["old_path"]] = data["not_before"]
        self.prune(now)

    def prune(self, now: float) -> None:
        horizon = now - self.horizon
        self.sessions = {k: v for k, v in self.sessions.items() if v > horizon}
        self.users = {k: v for k, v in self.users.items() if v > horizon}
        self.paths = {k: v for k, v in self.paths.items() if v > horizon}
