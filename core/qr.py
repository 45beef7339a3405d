"""The QR code an authenticator app scans, as PNG bytes."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def render_qr_png(data: str) -> bytes:
    """Render ``data`` as a PNG; CPU-bound, so callers run it in a worker thread."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the bot shuts the worker down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class QrRenderer:
    """Renders QR codes off the event loop.

    Rendering is pure Python (the mask search dominates: about 10 ms a code) and holds
    the GIL, so with a spare core it runs in a worker process; otherwise in a thread.
    """

    def __init__(self, processes: int = 0) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_interrupts,
            )

    async def warm_up(self) -> None:
        """Start the worker and load its imports now, not on a user's first /enroll."""
        await self.render("otpauth://totp/warm-up?secret=AAAAAAAA")

    async def render(self, data: str) -> bytes:
        if self._pool is None:
            return await asyncio.to_thread(render_qr_png, data)
        return await asyncio.get_running_loop().run_in_executor(self._pool, render_qr_png, data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
