"""One CSV reader for every import: encoding and delimiter sniffed, rows by line number, errors capped.

Files come from spreadsheets and other tools: UTF-8 with or without a byte-order mark, or Windows-1252 /
Latin-1; separated by commas, semicolons, tabs or pipes. The first line is the header.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_ERRORS = 1000
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024


@dataclass
class ErrorList:
    """Errors by line, at most MAX_ERRORS kept (the count goes on); `errors_truncated` says when some were left."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, line: int | None, message: str) -> None:
        self.count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "error": message})

    @property
    def truncated(self) -> bool:
        return self.count > len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"errors": self.errors}
        if self.truncated:
            out["errors_truncated"] = True
        return out


def detect_encoding(head: bytes) -> str:
    """"utf-8-sig" when the start of the file is UTF-8 (BOM or not), else "cp1252" (Latin-1 in practice);
    ValueError for UTF-16, which spreadsheets write only when asked to."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:200].count(b"\x00") > 10:
        raise ValueError("the file is UTF-16 (or binary): save it as CSV in UTF-8 or Latin-1")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            return "cp1252"
    return "utf-8-sig"


def decode(data: bytes, encoding: str) -> str:
    """A line as text: UTF-8 whenever it is valid UTF-8 (a Latin-1 line is almost never), else Windows-1252,
    with bytes Windows-1252 leaves undefined read as Latin-1 (nothing is dropped). Deciding per line keeps a
    file that mixes the two (a hand-edited export) from turning its UTF-8 lines into mojibake."""
    try:
        return data.decode("utf-8-sig" if encoding == "utf-8-sig" else "utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="latin1_fallback")


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("latin1_fallback", _latin1_fallback)


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a header line: the candidate that splits it into the most fields (comma on a tie)."""
    best, best_n = ",", 1
    for d in DELIMITERS:
        try:
            n = len(next(csv.reader([header_line], delimiter=d), []))
        except csv.Error:
            continue
        if n > best_n:
            best, best_n = d, n
    return best


class CsvRows:
    """Rows of a CSV given as lines of text: `header` once read, then (line number, dict or error message).

    A row with more fields than the header is an error; missing trailing fields read as empty.
    """

    def __init__(self, lines: Iterable[str], delimiter: str | None = None):
        self._lines = iter(lines)
        self.delimiter = delimiter
        self.header: list[str] = []
        self.line = 0

    def read_header(self) -> list[str]:
        for raw in self._lines:
            self.line += 1
            if not raw.strip():
                continue
            if self.delimiter is None:
                self.delimiter = sniff_delimiter(raw)
            fields = next(csv.reader([raw], delimiter=self.delimiter), [])
            self.header = [h.strip().lstrip("\ufeff") for h in fields]
            return self.header
        return []

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | str]]:
        if not self.header:
            self.read_header()
        reader = csv.reader(self._counted(), delimiter=self.delimiter or ",")
        n_cols = len(self.header)
        while True:
            start = self.line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"broken CSV: {exc}"
                continue
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) > n_cols and any(f.strip() for f in fields[n_cols:]):
                yield start, f"{len(fields)} fields but the header names {n_cols}"
                continue
            yield start, {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(self.header) if h}

    def _counted(self) -> Iterator[str]:
        for raw in self._lines:
            self.line += 1
            yield raw


class LineDecoder:
    """Bytes fed in chunks, lines of text out (each ending in a newline, so quoted newlines survive the CSV
    reader); the encoding is detected on the first 64 kB."""

    def __init__(self) -> None:
        self.buf = b""
        # Chunks of a line still unfinished: joined once its newline arrives, so one very long line costs
        # linear time (re-scanning a growing buffer for each chunk was quadratic: 70 s of CPU for 200 MB).
        self.parts: list[bytes] = []
        self.encoding: str | None = None

    def feed(self, chunk: bytes) -> list[str]:
        if self.encoding is None:
            self.buf += chunk
            if len(self.buf) < SNIFF_BYTES:
                return []
            self.encoding = detect_encoding(self.buf[:SNIFF_BYTES])
            chunk, self.buf = self.buf, b""
        if b"\n" not in chunk:
            self.parts.append(chunk)
            return []
        *lines, rest = b"".join([*self.parts, chunk]).split(b"\n")
        self.parts = [rest] if rest else []
        return [self._text(line) for line in lines]

    def close(self) -> list[str]:
        if self.encoding is None:
            self.encoding = detect_encoding(self.buf[:SNIFF_BYTES])
            self.parts, self.buf = [self.buf], b""
        lines, self.parts = b"".join(self.parts).split(b"\n"), []
        if lines and not lines[-1]:
            lines.pop()
        return [self._text(line) for line in lines]

    def _text(self, line: bytes) -> str:
        assert self.encoding is not None
        return decode(line, self.encoding).rstrip("\r") + "\n"


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of text from byte chunks (see LineDecoder)."""
    dec = LineDecoder()
    for chunk in chunks:
        yield from dec.feed(chunk)
    yield from dec.close()
