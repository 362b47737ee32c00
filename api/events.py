"""The runtime's events (StreamEvents) turned into database rows and callbacks.

Called on the event loop by the stream runtime; never blocks: rows go to one writer task that
commits them in order, in batches. Until a change is committed it is kept in `pending_*`, so a
status query right after an event already sees it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.callbacks import CallbackSender
from api.live import ENDED, LiveTasks
from avatar.stream.contract import DriveStatus, TaskStatus
from store.tasks import set_drive_status, set_task_status

log = logging.getLogger(__name__)


class TaskEvents:
    """Implements avatar.stream.contract.StreamEvents for every task of the server."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], live: LiveTasks, callbacks: CallbackSender
    ) -> None:
        self._db = db
        self._live = live
        self._callbacks = callbacks
        self._queue: asyncio.Queue[tuple[str, str, int, str | None]] = asyncio.Queue()
        self.pending_tasks: dict[str, tuple[int, str | None]] = {}
        self.pending_drives: dict[str, tuple[int, str | None]] = {}
        self._writer: asyncio.Task | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(
            self._write_loop(), name="status-writer"
        )

    async def close(self) -> None:
        """Write what is still queued, then stop the writer."""
        await self._queue.join()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    # --- StreamEvents -------------------------------------------------------------------------

    def on_task_status(self, task_id: str, status: TaskStatus, reason: str | None) -> None:
        status = TaskStatus(status)
        entry = self._live.entry(task_id)
        if entry is not None:
            if entry.reported is not None and (status <= entry.reported or entry.reported in ENDED):
                return  # duplicate or late report: statuses only move forward
            if status in ENDED:
                for drive_id in list(entry.open_drives):
                    # The runtime should have ended them; make sure nothing stays "playing".
                    self.on_drive_status(task_id, drive_id, DriveStatus.INTERRUPTED, "task ended")
                self._live.remove(task_id)
            entry.reported = status
        else:
            return  # a task that has ended (or is not ours): ignore late and stray reports
        self.pending_tasks[task_id] = (int(status), reason)
        self._queue.put_nowait(("task", task_id, int(status), reason))
        detail = {
            "Status": int(status),
            "RoomId": entry.room_id,
            "StreamId": entry.stream_id,
            "FailReason": reason or "",
        }
        self._callbacks.emit(3, task_id, detail)

    def on_drive_status(
        self, task_id: str, drive_id: str, status: DriveStatus, reason: str | None
    ) -> None:
        status = DriveStatus(status)
        entry = self._live.entry(task_id)
        if entry is None:
            return  # the task has ended and its open drives were ended with it
        old = entry.drive_status.get(drive_id, 0)
        if old >= DriveStatus.FAILED or status <= old:
            return  # drives only move forward; an ended drive stays ended
        entry.drive_status[drive_id] = int(status)
        entry.last_activity = time.monotonic()
        if status >= DriveStatus.FAILED:
            entry.open_drives.discard(drive_id)
        else:
            entry.open_drives.add(drive_id)
        self.pending_drives[drive_id] = (int(status), reason)
        self._queue.put_nowait(("drive", drive_id, int(status), reason))
        self._callbacks.emit(4, task_id, {"DriveId": drive_id, "Status": int(status)})

    # --- writer -------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._db() as s, s.begin():
                    for kind, ident, status, reason in batch:
                        if kind == "task":
                            await set_task_status(s, ident, status, reason)
                        else:
                            await set_drive_status(s, ident, status, reason)
            except Exception:
                log.exception("writing %d status changes failed", len(batch))
            for kind, ident, status, reason in batch:
                pending = self.pending_tasks if kind == "task" else self.pending_drives
                if pending.get(ident) == (status, reason):
                    del pending[ident]
                self._queue.task_done()
