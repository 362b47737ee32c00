"""Public timbres mirror the installed offline voices; the table keeps every voice ever seen
(one that is no longer installed is marked unavailable, not deleted)."""

from __future__ import annotations

from sqlalchemy import select

from store.models import Timbre


async def sync_timbres(services) -> None:  # type: ignore[no-untyped-def]
    voices = {v.timbre_id: v for v in services.tts.voices()}
    async with services.db() as s, s.begin():
        rows = {t.id: t for t in await s.scalars(select(Timbre).where(Timbre.is_public.is_(True)))}
        for tid, row in rows.items():
            row.available = tid in voices
        for tid, v in voices.items():
            row = rows.get(tid)
            if row is None:
                s.add(
                    Timbre(
                        id=tid, name=v.name, language=v.language, backend=v.backend, is_public=True
                    )
                )
            else:
                row.name, row.language, row.backend = v.name, v.language, v.backend
