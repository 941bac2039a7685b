"""Password resets: a single-use, expiring token mailed through the spool (files only its owner
may read) or SMTP, an outbox that never holds the token, and no account enumeration."""

from __future__ import annotations

import logging
import re
import stat
import threading

import pytest

from core import tokens
from query import outbox
from query.accounts_config import AccountSettings
from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import bearer, sign_in, sign_up

client = support.client
spool = support.spool

LINK = re.compile(r"/v0/password_resets/([A-Za-z0-9_-]{43})")


def _mails(spool):
    return sorted(spool.glob("*.eml")) if spool.exists() else []


def _token_in(path):
    return LINK.search(path.read_text()).group(1)


async def _ask(client, **params):
    """Ask for a reset; returns the answer once any mail it started has left."""
    response = await client.post("/v0/password_resets", json=params)
    assert response.status == 202, await response.text()
    await client.app[outbox.outbox_key].drain()
    return await response.json()


async def test_a_reset_mail_is_spooled_for_its_owner_only(client, spool, db_pool):
    user = await sign_up(client, "lovelace", email="ada@example.org")
    await _ask(client, email="ADA@example.org")
    [mail] = _mails(spool)
    assert stat.S_IMODE(mail.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    text = mail.read_text()
    assert "To: ada@example.org" in text and "Subject: Reset your Sensorium password" in text
    token = _token_in(mail)
    async with db_pool.acquire() as conn:
        outbox = await conn.fetch("SELECT * FROM mail_outbox")
        stored = await conn.fetchrow("SELECT * FROM password_resets")
    assert [(r["user_id"], r["recipient"], r["kind"]) for r in outbox] == [
        (user["id"], "ada@example.org", "password_reset")
    ]
    assert outbox[0]["delivered_at"] is not None and outbox[0]["error"] is None
    assert token not in repr(dict(outbox[0]))
    assert stored["token_hash"] == tokens.hash_token(token)
    lifetime = stored["expires_at"] - stored["created_at"]
    assert lifetime.total_seconds() == 3600


async def test_the_answer_is_the_same_whether_or_not_the_account_exists(client, spool):
    await sign_up(client, "hamilton")
    known = await _ask(client, username="hamilton")
    unknown = await _ask(client, username="nobody-here")
    unknown_email = await _ask(client, email="nobody@example.org")
    assert known == unknown == unknown_email
    assert len(_mails(spool)) == 1


async def test_the_login_may_be_a_query_parameter(client, spool):
    await sign_up(client, "noether")
    response = await client.post("/v0/password_resets", params={"username": "noether"})
    assert response.status == 202
    await client.app[outbox.outbox_key].drain()
    assert len(_mails(spool)) == 1
    assert (await client.post("/v0/password_resets")).status == 400


@pytest.mark.parametrize("where", ["params", "json"])
async def test_a_login_with_a_nul_character_is_a_400_in_the_url_as_in_the_body(client, where):
    # PostgreSQL text cannot hold a NUL: in the URL it was sent to the database, and a 500.
    response = await client.post("/v0/password_resets", **{where: {"email": "a\x00b"}})
    assert response.status == 400
    error = await response.json()
    assert error["message"] == "email must not contain NUL characters"
    assert error["fields"] == [{"name": "email", "message": error["message"]}]


async def test_a_reset_token_sets_the_password_once_and_ends_sessions(client, spool):
    user = await sign_up(client, "germain")
    session = await sign_in(client, "germain")
    await _ask(client, username="germain")
    token = _token_in(_mails(spool)[0])
    response = await client.get(f"/v0/password_resets/{token}")
    assert response.status == 200
    shown = await response.json()
    assert shown["id"] == user["id"] and "email" not in shown
    response = await client.patch(f"/v0/password_resets/{token}", json={"password": "short"})
    assert response.status == 422
    response = await client.patch(
        f"/v0/password_resets/{token}", json={"password": "a fresh password"}
    )
    assert response.status == 200
    assert (await response.json())["id"] == user["id"]
    assert await sign_in(client, "germain", "a fresh password")
    assert (await client.get("/v0/me", headers=bearer(session))).status == 401
    again = await client.patch(f"/v0/password_resets/{token}", json={"password": "third one!"})
    assert again.status == 404
    assert (await client.get(f"/v0/password_resets/{token}")).status == 404


async def test_a_newer_reset_spends_the_older_tokens_when_used(client, spool):
    await sign_up(client, "somerville")
    await _ask(client, username="somerville")
    await _ask(client, username="somerville")
    first, second = (_token_in(path) for path in _mails(spool))
    response = await client.patch(f"/v0/password_resets/{second}", json={"password": "new one!!"})
    assert response.status == 200
    assert (await client.get(f"/v0/password_resets/{first}")).status == 404


async def test_expired_and_unknown_tokens_are_404(client, spool, db_pool):
    await sign_up(client, "cori")
    await _ask(client, username="cori")
    token = _token_in(_mails(spool)[0])
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    assert (await client.get(f"/v0/password_resets/{token}")).status == 404
    response = await client.patch(f"/v0/password_resets/{token}", json={"password": "whatever1"})
    assert response.status == 404
    assert (await client.get(f"/v0/password_resets/{tokens.new_token()}")).status == 404


async def test_the_log_says_a_mail_was_queued_for_a_user_id_only(client, spool, caplog):
    user = await sign_up(client, "cswu", email="chien-shiung@example.org")
    with caplog.at_level(logging.DEBUG):
        await _ask(client, username="cswu")
    token = _token_in(_mails(spool)[0])
    messages = [record.getMessage() for record in caplog.records]
    assert f"password reset mail queued for user {user['id']}" in messages
    logged = "\n".join(messages) + repr([record.__dict__ for record in caplog.records])
    assert token not in logged and "chien-shiung@example.org" not in logged


class _SmtpSink:
    """A one-connection SMTP server on a loopback port that keeps what it is sent."""

    def __init__(self):
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.greet = threading.Event()  # the sink says nothing until this is set
        self.greet.set()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.server.accept()
        with conn, conn.makefile("rb") as lines:
            self.greet.wait(timeout=30)
            conn.sendall(b"220 sink\r\n")
            in_data = False
            for line in lines:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        conn.sendall(b"250 ok\r\n")
                    else:
                        self.received += line
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go on\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 ok\r\n")
        self.server.close()


@pytest.fixture
async def smtp_client(query_app, aiohttp_client):
    sink = _SmtpSink()
    settings = AccountSettings(mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=sink.port)
    client = await support.serve(aiohttp_client, query_app(accounts=settings))
    return client, sink


async def test_smtp_delivers_the_reset_mail(smtp_client, db_pool):
    client, sink = smtp_client
    await sign_up(client, "mirzakhani", email="maryam@example.org")
    await _ask(client, username="mirzakhani")
    sink.thread.join(timeout=10)
    assert b"To: maryam@example.org" in sink.received
    assert LINK.search(sink.received.decode())
    async with db_pool.acquire() as conn:
        delivered = await conn.fetchval("SELECT delivered_at FROM mail_outbox")
    assert delivered is not None


async def test_the_answer_does_not_wait_for_the_mailer(smtp_client, db_pool):
    client, sink = smtp_client
    await sign_up(client, "johnson", email="katherine@example.org")
    sink.greet.clear()
    response = await client.post("/v0/password_resets", json={"username": "johnson"})
    assert response.status == 202
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT delivered_at FROM mail_outbox") is None
    sink.greet.set()
    await client.app[outbox.outbox_key].drain()
    assert b"To: katherine@example.org" in sink.received
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT delivered_at FROM mail_outbox") is not None


async def test_a_failed_delivery_is_recorded_and_the_answer_unchanged(
    query_app, aiohttp_client, db_pool, tmp_path
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the spool directory should be")
    settings = AccountSettings(mail_spool_dir=blocked)
    client = await support.serve(aiohttp_client, query_app(accounts=settings))
    await sign_up(client, "franklin")
    await _ask(client, username="franklin")
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT delivered_at, error FROM mail_outbox")
    assert row["delivered_at"] is None and row["error"]
