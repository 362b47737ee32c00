"""Start the digital-human server: `python server.py` (settings from DH_* variables, see README)."""

from __future__ import annotations

import os

# One BLAS thread: our parallelism is across streams and jobs. OpenBLAS's own worker threads
# spin (sched_yield) after every small matrix product, which burned a whole core per server
# while a single 512x512 stream rendered. Must be set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import logging  # noqa: E402
import sys  # noqa: E402

import uvicorn  # noqa: E402

from api.app import create_app  # noqa: E402
from api.credentials import load_credentials  # noqa: E402
from settings import Settings  # noqa: E402


def main() -> None:
    # Render threads hold the GIL in short Python stretches; a 1 ms switch interval (5 ms by
    # default) keeps the event loop, and so the API and the media clock, answering promptly.
    sys.setswitchinterval(0.001)
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
