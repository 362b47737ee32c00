"""Queries on digital humans and timbres."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import DigitalHuman, Timbre


def _visible(app_id: int, fetch_mode: int):  # type: ignore[no-untyped-def]
    if fetch_mode == 2:
        return DigitalHuman.is_public.is_(True)
    if fetch_mode == 3:
        return (DigitalHuman.app_id == app_id) & DigitalHuman.is_public.is_(False)
    return or_(DigitalHuman.is_public.is_(True), DigitalHuman.app_id == app_id)


async def list_digital_humans(
    s: AsyncSession, app_id: int, fetch_mode: int, offset: int, limit: int
) -> tuple[int, list[DigitalHuman]]:
    cond = _visible(app_id, fetch_mode)
    total = await s.scalar(select(func.count()).select_from(DigitalHuman).where(cond))
    rows = await s.scalars(
        select(DigitalHuman)
        .where(cond)
        .order_by(DigitalHuman.is_public.desc(), DigitalHuman.create_time, DigitalHuman.id)
        .offset(offset)
        .limit(limit)
    )
    return int(total or 0), list(rows)


async def get_digital_human(s: AsyncSession, app_id: int, dh_id: str) -> DigitalHuman | None:
    row = await s.get(DigitalHuman, dh_id)
    if row is None or not (row.is_public or row.app_id == app_id):
        return None
    return row


async def list_timbres(
    s: AsyncSession, digital_human_id: str | None, offset: int, limit: int
) -> tuple[int, list[Timbre]]:
    if digital_human_id is None:
        cond = Timbre.is_public.is_(True) & Timbre.available.is_(True)
    else:
        cond = (Timbre.digital_human_id == digital_human_id) & Timbre.available.is_(True)
    total = await s.scalar(select(func.count()).select_from(Timbre).where(cond))
    rows = await s.scalars(
        select(Timbre).where(cond).order_by(Timbre.id).offset(offset).limit(limit)
    )
    return int(total or 0), list(rows)
