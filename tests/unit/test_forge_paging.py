"""Paged forge listings: read until a short page, at most ``limit`` pages."""

from __future__ import annotations

from ocelot.forges.base import collect_pages


def test_reads_until_a_short_page() -> None:
    pages = {1: list(range(3)), 2: list(range(3, 6)), 3: [6]}
    asked: list[int] = []

    def get(page: int) -> list[int]:
        asked.append(page)
        return pages[page]

    assert collect_pages(get, size=3) == list(range(7))
    assert asked == [1, 2, 3]


def test_stops_at_the_limit_and_says_none_for_a_missing_account() -> None:
    assert collect_pages(lambda page: [page] * 2, size=2, limit=4) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert collect_pages(lambda page: None) is None
    assert collect_pages(lambda page: [1, 2] if page == 1 else None, size=2) == [1, 2]
