"""Mail leaves in the background, after the answer: a request's answer and its timing never
depend on the mailer (a password reset answers alike whether or not the account exists).

Each mail was recorded in the `mail_outbox` table before it is handed here; its delivery (or
why it failed) is recorded there too. The body, which may carry a secret, lives only in memory
until the mailer has it: a mail still pending at shutdown gets SHUTDOWN bounded time, then is
dropped with its outbox row left undelivered (the user asks again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from query import mailer, state
from query.accounts_config import AccountSettings
from storage import accounts, errors, pool

logger = logging.getLogger(__name__)


class Outbox:
    """Delivers mail with the configured mailer, each in a named task."""

    def __init__(self, settings: AccountSettings, db: Callable[[], pool.Pool]) -> None:
        self._settings = settings
        self._db = db
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, mail_id: int, mail: mailer.Mail) -> None:
        """Start delivering outbox mail `mail_id`; returns at once."""
        task = asyncio.create_task(self._deliver(mail_id, mail), name=f"mail-{mail_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait until every mail handed over so far has been delivered or has failed."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109 (a bound, not a cancel)
        """Give pending mail `timeout` seconds, then cancel what is left."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
        for task in set(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(set(self._pending))

    async def _deliver(self, mail_id: int, mail: mailer.Mail) -> None:
        try:
            where = await asyncio.to_thread(mailer.deliver, self._settings, mail)
        except Exception as exc:  # the mailer's failure is recorded, never raised
            # The exception's text may name the recipient: only its type is logged.
            logger.warning(
                "mail %d was not delivered: %s",
                mail_id,
                type(exc).__name__,
                extra={"action": "mail_failed", "mail_id": mail_id},
            )
            await self._record(mail_id, f"{type(exc).__name__}: {exc}")
            return
        logger.info("mail %d delivered (%s)", mail_id, where, extra={"action": "mail_delivered"})
        await self._record(mail_id, None)

    async def _record(self, mail_id: int, failure: str | None) -> None:
        try:
            with errors.translated():
                async with self._db().acquire() as conn:
                    if failure is None:
                        await accounts.mail_delivered(conn, mail_id)
                    else:
                        await accounts.mail_failed(conn, mail_id, failure)
        except errors.StorageError as exc:
            logger.warning(
                "could not record the delivery of mail %d: %s",
                mail_id,
                exc,
                extra={"action": "mail_record_failed"},
            )


outbox_key = web.AppKey("outbox", Outbox)


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """The app's outbox; on shutdown pending mail gets the shutdown timeout to leave."""
    settings = app[state.settings]
    app[outbox_key] = Outbox(settings.accounts, lambda: app[state.db_pool])
    yield
    await app[outbox_key].close(settings.shutdown_timeout_s)
