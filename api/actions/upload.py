"""Upload (extension): a signed multipart upload whose URL any `*Url` field accepts, so a
self-hosted user needs no separate file server.

    POST /?Action=UploadFile&<signature>   multipart/form-data, file field "File"
    → Data {FileId, Url, Size}
"""

from __future__ import annotations

import re
import shutil
import uuid

from starlette.datastructures import UploadFile

from api.context import ActionContext
from api.errors import BODY_UNREADABLE, ApiError, invalid
from api.schema import action
from store.models import Upload

CHUNK = 1024 * 1024


def safe_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    base = base.lstrip(".")[:100]
    return base or "file"


@action(None, codes=[BODY_UNREADABLE])
async def upload_file(ctx: ActionContext, body: dict) -> dict:
    """Store a file sent as multipart/form-data (field `File`); returns its `Url`."""
    request = ctx.request
    assert request is not None
    limit = ctx.settings.upload_max_bytes
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise invalid("File", "send the file as multipart/form-data in a field named File")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + 64 * 1024:
        raise invalid("File", f"must be at most {limit} bytes")
    try:
        form = await request.form(max_files=1)
    except Exception as e:
        raise ApiError(BODY_UNREADABLE, f"HTTP body unreadable: {e}") from None
    try:
        item = form.get("File") or form.get("file")
        if not isinstance(item, UploadFile):
            raise invalid("File", "required (a file field named File)")
        file_id = uuid.uuid4().hex
        name = safe_name(item.filename or "file")
        folder = ctx.services.uploads_dir / file_id
        size = await _save(item, folder / name, limit)
    finally:
        await form.close()
    async with ctx.db() as s, s.begin():
        s.add(
            Upload(
                id=file_id,
                app_id=ctx.app_id,
                filename=name,
                content_type=item.content_type or "application/octet-stream",
                size=size,
            )
        )
    return {
        "FileId": file_id,
        "Url": f"{ctx.settings.base_url}/files/{file_id}/{name}",
        "Size": size,
    }


async def _save(item: UploadFile, path, limit: int) -> int:  # type: ignore[no-untyped-def]
    import asyncio

    def write() -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        item.file.seek(0)
        with path.open("wb") as out:
            while chunk := item.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    break
                out.write(chunk)
        return size

    size = await asyncio.to_thread(write)
    if size > limit or size == 0:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise invalid("File", f"must be between 1 and {limit} bytes")
    return size


ACTIONS = {"UploadFile": upload_file, "Upload": upload_file}
