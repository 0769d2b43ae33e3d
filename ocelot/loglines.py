"""Numbered lines of a stored build log, read by range without reading the text before it.

Every stored chunk counts its newlines (``LogChunk.lines``), so chunk *i* holds the lines from
``1 + lines of chunks before it``. A chunk may end inside a line (``LogChunk.unterminated``:
the writer stored a line before its newline came); the next chunk of its section continues
that line, whose number is the one after the newlines before it. A log is cut into
**sections**: consecutive chunks of the same attempt and stage; a section whose last chunk is
unterminated (the line being printed now, or a worker lost mid-line) counts that open line
too. The dashboard shows one collapsible section per stage, numbers lines for ``#L120``
permalinks, and loads a long log a page at a time: the outline costs one query on the small
columns, a range one more on the chunks that hold it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.logstore import texts
from ocelot.models import LogChunk


@dataclass(frozen=True)
class Section:
    """A run of consecutive chunks of one attempt and one stage (``None``: Ocelot's set-up)."""

    index: int
    attempt: int
    stage: str | None
    first_line: int
    lines: int
    first_seq: int
    last_seq: int

    @property
    def last_line(self) -> int:
        return self.first_line + self.lines - 1


@dataclass(frozen=True)
class Line:
    number: int
    section: int
    text: str


@dataclass(frozen=True)
class Outline:
    sections: tuple[Section, ...]
    last_seq: int

    @property
    def total(self) -> int:
        return self.sections[-1].last_line if self.sections else 0

    def section_of(self, number: int) -> Section | None:
        for section in self.sections:
            if section.first_line <= number <= section.last_line:
                return section
        return None


def outline(engine: Engine, build_id: int) -> Outline:
    """The sections of a build's log, from one query that reads no text."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                LogChunk.seq,
                LogChunk.attempt,
                LogChunk.stage,
                LogChunk.lines,
                LogChunk.unterminated,
            )
            .where(LogChunk.build_id == build_id)
            .order_by(LogChunk.seq)
        ).all()
    sections: list[Section] = []
    line = 1
    open_end = False  # the last section's last chunk ends inside a line
    for seq, attempt, stage, lines, unterminated in rows:
        last = sections[-1] if sections else None
        if last is not None and (last.attempt, last.stage) == (attempt, stage):
            sections[-1] = Section(
                last.index, attempt, stage, last.first_line, last.lines + lines, last.first_seq, seq
            )
        else:
            if open_end:  # the section before ended inside a line: that line counts too
                line += 1
                sections[-1] = _with_open_line(sections[-1])
            sections.append(Section(len(sections), attempt, stage, line, lines, seq, seq))
        line += lines
        open_end = bool(unterminated)
    if open_end:
        sections[-1] = _with_open_line(sections[-1])
    return Outline(tuple(sections), rows[-1][0] if rows else 0)


def _with_open_line(section: Section) -> Section:
    return Section(
        section.index,
        section.attempt,
        section.stage,
        section.first_line,
        section.lines + 1,
        section.first_seq,
        section.last_seq,
    )


def read_lines(engine: Engine, build_id: int, first: int, last: int) -> list[Line]:
    """Lines ``first`` … ``last`` (1-based, inclusive, clamped to the log) with their sections."""
    shape = outline(engine, build_id)
    return lines_in(engine, build_id, shape, first, last)


def lines_in(engine: Engine, build_id: int, shape: Outline, first: int, last: int) -> list[Line]:
    """As :func:`read_lines` with the outline already read (one query for the text)."""
    first, last = max(first, 1), min(last, shape.total)
    if first > last:
        return []
    wanted = [s for s in shape.sections if s.last_line >= first and s.first_line <= last]
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                LogChunk.seq,
                LogChunk.lines,
                LogChunk.unterminated,
                LogChunk.text,
                LogChunk.file_offset,
                LogChunk.size,
            )
            .where(
                LogChunk.build_id == build_id,
                LogChunk.seq >= wanted[0].first_seq,
                LogChunk.seq <= wanted[-1].last_seq,
            )
            .order_by(LogChunk.seq)
        ).all()
    found = texts(engine, build_id, [(text, offset, size) for *_, text, offset, size in rows])
    out: list[Line] = []

    def emit(number: int, section: Section, text: str) -> None:
        if first <= number <= last:
            out.append(Line(number, section.index, text))

    bounds = iter(wanted)
    section = next(bounds)
    number = section.first_line
    carry: str | None = None  # the start of a line an earlier chunk of the section left open
    for (seq, count, unterminated, *_), text in zip(rows, found, strict=True):
        if seq > section.last_seq:
            if carry is not None:  # the section ended inside a line
                emit(number, section, carry)
            carry = None
            while seq > section.last_seq:
                section = next(bounds)
            number = section.first_line
        if number > last:
            break
        if number + count <= first and not unterminated and (carry is None or count):
            number += count  # the whole chunk (and any line it ends) is before the range
            carry = None
            continue
        pieces = text.split("\n")
        if carry is not None:
            pieces[0] = carry + pieces[0]
        for piece in pieces[:count]:
            emit(number, section, piece)
            number += 1
        carry = pieces[count] if unterminated else None
    else:
        if carry is not None:
            emit(number, section, carry)
    return out
