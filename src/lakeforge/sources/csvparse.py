"""An RFC 4180 record reader that keeps what Spark's CSV reader loses: the record count, its raw text.

    header, records = parse_csv_text('id,name\\n1,"a, b"\\n2\\n')
    header == ["id", "name"]
    [(r.line_number, r.fields, r.malformed) for r in records]
    # [(1, ["1", "a, b"], False), (2, None, True)]

Rules (SPEC §1): `"` quoting with doubled quotes inside, quoted values may hold commas and line breaks,
LF or CRLF, one header row whose names are trimmed and lower-cased. A record with a different number of
fields than the header, or one the csv module cannot read (a quote never closed, a lone CR in an
unquoted value), is malformed: it keeps its whole text and no values. A quote inside an unquoted value
is kept as text (`1,a"b` -> ["1", 'a"b']), as most CSV writers and readers do. A completely
empty line is not a record. Line numbers count data records: 1 is the first record after the header.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

csv.field_size_limit(2**31 - 1)

TRIM_CHARS = " \t\r\n"


def normalize_header_name(name: str) -> str:
    """Header names are matched after trimming and lower-casing (SPEC §1)."""
    return name.strip(TRIM_CHARS).lower()


@dataclass(frozen=True, slots=True)
class Record:
    line_number: int
    fields: list[str] | None  # None when malformed
    raw: str

    @property
    def malformed(self) -> bool:
        return self.fields is None


class _Lines:
    """Splits text on LF only (CRLF stays together) and remembers what the csv reader consumed."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self.consumed: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._pos >= len(self._text):
            raise StopIteration
        end = self._text.find("\n", self._pos)
        end = len(self._text) if end < 0 else end + 1
        line = self._text[self._pos : end]
        self._pos = end
        self.consumed.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self.consumed)
        self.consumed.clear()
        if raw.endswith("\r\n"):
            return raw[:-2]
        if raw.endswith("\n"):
            return raw[:-1]
        return raw


def _raw_records(text: str) -> Iterator[tuple[list[str] | None, str]]:
    lines = _Lines(text)
    while True:
        reader = csv.reader(lines, strict=True)
        try:
            for fields in reader:
                yield fields, lines.take()
            return
        except csv.Error:
            yield None, lines.take()


def decode(data: bytes) -> str:
    """UTF-8 with an optional leading BOM; raises UnicodeDecodeError on anything else."""
    return data.decode("utf-8-sig")


def parse_csv_text(text: str) -> tuple[list[str] | None, Iterator[Record]]:
    """Split a file's text into its normalised header (None if there is none) and its data records."""
    raw = _raw_records(text)
    header: list[str] | None = None
    for fields, _ in raw:
        if fields is None:
            # The header itself is not valid CSV: report it as a header of no columns
            return [], iter(())
        if fields:
            header = [normalize_header_name(f) for f in fields]
            break
    if header is None:
        return None, iter(())
    width = len(header)

    def records() -> Iterator[Record]:
        number = 0
        for fields, text_ in raw:
            if fields == []:
                continue  # an empty line is not a record
            number += 1
            if fields is None or len(fields) != width:
                yield Record(number, None, text_)
            else:
                yield Record(number, fields, text_)

    return header, records()


def read_header(data: bytes) -> list[str] | None:
    """The normalised header of a file's bytes, None for a file with no header at all."""
    header, _ = parse_csv_text(decode(data))
    return header
