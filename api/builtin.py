"""The digital human that ships with the server: scikit-image's public-domain astronaut photo
(NASA), built at first start as a photo avatar (or a still one when the photo kind fails)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import cv2

from api.builds import run_build
from store.models import DigitalHuman

log = logging.getLogger(__name__)

BUILTIN_ID = "astronaut"
# Where the mouth is in the astronaut photo, for the "still" fallback (pixels, x, y); the photo
# kind finds the face itself.
HINT = {"Mouth": [224, 146]}


async def ensure_builtin_avatar(services) -> None:  # type: ignore[no-untyped-def]
    async with services.db() as s, s.begin():
        row = await s.get(DigitalHuman, BUILTIN_ID)
        if (
            row is not None
            and row.status == 2
            and (services.avatars_dir / BUILTIN_ID / "avatar.json").exists()
        ):
            return
        if row is None:
            row = DigitalHuman(
                id=BUILTIN_ID, app_id=None, name="Astronaut", kind="photo", is_public=True
            )
            s.add(row)
        row.status, row.progress, row.fail_reason = 1, 0, None
    log.info("building the built-in digital human %r (first start only)", BUILTIN_ID)
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "astronaut.png"
        cv2.imwrite(str(src), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        ok = await run_build(
            services, BUILTIN_ID, ["photo", "still"], src, None, True, {"still": HINT}
        )
    if not ok:
        log.error("the built-in avatar could not be built")
