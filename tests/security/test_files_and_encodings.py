"""What sendwise writes to disk and keeps of uploads: `.eml` headers a mail client can act on, history
bytes that are not UTF-8 reported (never altered), database files readable by their owner only."""

from __future__ import annotations

import email
import sqlite3
import stat

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.core.config import get_settings
from app.core.db import make_engine, private_file, sqlite_path
from app.core.db import session_scope as scope
from app.delivery.unsubscribe import unsubscribe_url
from app.esp import outbox
from app.esp.outgoing import OutgoingEmail
from app.models import Send


@pytest.fixture()
def long_base_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://newsletters.a-rather-long-company-name.example.com")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_list_unsubscribe_is_a_plain_header_never_an_encoded_word(tmp_path, long_base_url):
    mid = "0123456789abcdef0123456789abcdef"
    url = f"<{unsubscribe_url(mid)}>"
    assert len("List-Unsubscribe: " + url) > 78  # too long for one 78-character line
    mail = OutgoingEmail(message_id=mid, to_email="r@example.com", to_name="Rénée", subject="Ça va ?",
                         html="<p>x</p>", text="x", headers={"List-Unsubscribe": url,
                                                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    raw = outbox.write_eml(tmp_path, mail, "news@example.com", "Shop").read_bytes()
    head = raw.split(b"\n\n", 1)[0].decode("ascii")
    line = next(h for h in head.split("\n") if h.startswith("List-Unsubscribe:"))
    assert line == f"List-Unsubscribe: {url}" and "=?" not in line
    parsed = email.message_from_bytes(raw)
    assert parsed["List-Unsubscribe"] == url and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "=?utf-8?" in head  # non-ASCII subject and name are still encoded, as they must be
    # Several entries longer than a line can hold are folded at whitespace, never encoded.
    many = ", ".join([url] * 8)
    raw = outbox.render_eml(OutgoingEmail(message_id=mid, to_email="r@example.com", to_name=None, subject="s",
                                          html="<p/>", text=None, headers={"List-Unsubscribe": many}),
                            "news@example.com", None)
    folded = raw.split(b"\n\n", 1)[0].decode("ascii")
    assert "=?" not in folded and all(len(h) <= 998 for h in folded.split("\n"))
    assert email.message_from_bytes(raw)["List-Unsubscribe"].replace("\n", "") == many


def test_history_lines_that_are_not_utf8_are_read_as_latin1_never_altered(client, auth, workspace):
    """A Latin-1 line in a UTF-8 file (a hand-edited export) keeps its letters: never stored as U+FFFD."""
    assert client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "c1", "email": "c1@example.com"}]}).json()["upserted"] == 1
    body = ("external_id,sent_at,subject\n"
            "c1,2024-01-01T10:00:00Z,Café\n").encode() + b"c1,2024-01-02T10:00:00Z,Caf\xe9 cr\xe8me\n" + \
        "c1,2024-01-03T10:00:00Z,Thé\n".encode()
    r = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"}, content=body)
    assert r.status_code == 200
    assert r.json()["imported"] == 3 and r.json()["errors"] == []
    ndjson = b'{"external_id": "c1", "sent_at": "2024-01-04T10:00:00Z", "subject": "Gr\xfc\xdfe"}\n'
    r = client.post("/v1/history", headers={**auth, "Content-Type": "application/x-ndjson"}, content=ndjson)
    assert r.status_code == 200
    with scope() as s:
        subjects = sorted(s.exec(select(Send.subject).where(Send.workspace_id == workspace[0])).all())
    assert not any("\ufffd" in x for x in subjects)
    assert {"Café", "Café crème", "Thé"} <= set(subjects)
    if r.json()["imported"] == 1:
        assert "Grüße" in subjects
    else:  # refused with the line named, never altered
        assert r.json()["errors"][0]["line"] == 1


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_created_owner_only(tmp_path):
    db = tmp_path / "var" / "sendwise.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert _mode(db) == 0o600
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or _mode(wal) == 0o600
    engine.dispose()
    # A file left world-readable by an older version is tightened at the next start.
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    old.chmod(0o644)
    make_engine(f"sqlite:///{old}").dispose()
    assert _mode(old) == 0o600
    # The embedded broker's file too (kombu's URL form).
    broker = sqlite_path(f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    assert broker == tmp_path / "broker.db"
    private_file(broker)
    assert _mode(broker) == 0o600
    assert sqlite_path("sqlite:///:memory:") is None


def test_one_long_line_without_a_newline_is_read_in_linear_time():
    """A 40 MB line in 1 kB chunks: a buffer re-scanned per chunk would take hours; linear reading, a moment."""
    import time

    from app.core.csvfile import text_lines

    chunk = b"x" * 1024
    t0 = time.perf_counter()
    lines = list(text_lines(iter([b"a,b\n"] + [chunk] * 40_000 + [b"\nc,d\n"])))
    assert time.perf_counter() - t0 < 20
    assert [len(x) for x in lines] == [4, 40_000 * 1024 + 1, 4]
