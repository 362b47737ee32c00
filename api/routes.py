"""Plain HTTP routes beside the action endpoint: uploaded files, avatar previews, API docs."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from api.docs import actions_html, actions_json

router = APIRouter()
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _safe(*parts: str) -> None:
    for p in parts:
        if not _SAFE.match(p) or p.startswith("."):
            raise HTTPException(404)


def upload_path(services, file_id: str) -> Path | None:  # type: ignore[no-untyped-def]
    folder = services.uploads_dir / file_id
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file()]
    return files[0] if files else None


def local_file(services, url: str) -> Path | None:  # type: ignore[no-untyped-def]
    """The file behind a URL of this server's own uploads, or None for any other URL."""
    prefix = services.settings.base_url + "/files/"
    if not url.startswith(prefix):
        return None
    parts = url[len(prefix) :].split("?", 1)[0].split("/")
    if len(parts) != 2 or not all(_SAFE.match(p) for p in parts):
        return None
    path = upload_path(services, parts[0])
    return path if path is not None and path.name == parts[1] else None


@router.get("/files/{file_id}/{name}", include_in_schema=False)
async def get_file(file_id: str, name: str, request: Request) -> FileResponse:
    _safe(file_id, name)
    path = upload_path(request.app.state.services, file_id)
    if path is None or path.name != name:
        raise HTTPException(404)
    return FileResponse(path)


@router.get("/avatars/{dh_id}/preview.png", include_in_schema=False)
async def get_preview(dh_id: str, request: Request) -> FileResponse:
    _safe(dh_id)
    path = request.app.state.services.avatars_dir / dh_id / "preview.png"
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="image/png")


@router.get("/avatars/{dh_id}/actions/{name}.gif", include_in_schema=False)
async def get_action_preview(dh_id: str, name: str, request: Request) -> FileResponse:
    from api.previews import action_preview

    _safe(dh_id, name)
    path = await action_preview(request.app.state.services, dh_id, name)
    if path is None:
        raise HTTPException(404)
    return FileResponse(path, media_type="image/gif")


@router.get("/docs", include_in_schema=False)
async def docs_index() -> RedirectResponse:
    return RedirectResponse("/docs/actions")


@router.get("/docs/actions", include_in_schema=False)
async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(actions_html(request.app.state.services.actions))


@router.get("/docs/actions.json", include_in_schema=False)
async def docs_json(request: Request) -> JSONResponse:
    return JSONResponse(actions_json(request.app.state.services.actions))
