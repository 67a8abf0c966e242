"""`python -m gateway`: serve the HTTP API with uvicorn (uvloop + httptools)."""
import uvicorn

from gateway.settings import load


def main() -> None:
    settings = load()
    uvicorn.run("gateway.app:create_app", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, loop="uvloop",
                http="httptools", log_config=None, access_log=False,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
