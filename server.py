"""Start the digital-human server: `python server.py` (settings from DH_* variables, see README)."""

from __future__ import annotations

import logging

import uvicorn

from api.app import create_app
from api.credentials import load_credentials
from settings import Settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    creds = load_credentials(settings)
    print(
        f"digital-human on {settings.base_url}\n"
        f"  AppId        {creds.app_id}\n"
        f"  ServerSecret {creds.server_secret}\n"
        f"  data         {settings.data_dir.resolve()}\n"
        f"  API docs     {settings.base_url}/docs/actions",
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_certfile) if settings.tls_certfile else None,
        ssl_keyfile=str(settings.tls_keyfile) if settings.tls_keyfile else None,
        log_level="info",
        access_log=settings.access_log,
    )


if __name__ == "__main__":
    main()
