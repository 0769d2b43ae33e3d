"""Terminal colours to HTML for the build log (web/dashboard/ansi.py)."""

from __future__ import annotations

from web.dashboard.ansi import AnsiState, line_html


def render(*lines: str) -> list[str]:
    state = AnsiState()
    return [line_html(line, state) for line in lines]


def test_plain_text_is_escaped_and_unwrapped() -> None:
    assert render("a <b> & 'c'") == ["a &lt;b&gt; &amp; 'c'"]


def test_basic_and_bright_colours_bold_and_reset() -> None:
    assert render("\x1b[31mred\x1b[0m plain") == ['<span class="fg1">red</span> plain']
    assert render("\x1b[1;92mok\x1b[22m thin") == [
        '<span class="b fg10">ok</span><span class="fg10"> thin</span>'
    ]
    assert render("\x1b[44mon blue\x1b[49m") == ['<span class="bg4">on blue</span>']


def test_colour_carries_to_the_next_line_until_reset() -> None:
    assert render("\x1b[33mone", "two\x1b[m", "three") == [
        '<span class="fg3">one</span>',
        '<span class="fg3">two</span>',
        "three",
    ]


def test_256_and_true_colour_become_inline_styles() -> None:
    assert render("\x1b[38;5;196mx") == ['<span style="color:#ff0000">x</span>']
    assert render("\x1b[38;5;9mx") == ['<span class="fg9">x</span>']
    assert render("\x1b[48;2;1;2;3mx") == ['<span style="background:#010203">x</span>']
    assert render("\x1b[38;5;244mx") == ['<span style="color:#808080">x</span>']


def test_other_escapes_are_dropped_and_cannot_inject() -> None:
    assert render("\x1b[2K\x1b[1Gdone") == ["done"]
    assert render("\x1b]0;title\x07after") == ["after"]
    assert render('\x1b[31m"><script>x</script>') == [
        '<span class="fg1">"&gt;&lt;script&gt;x&lt;/script&gt;</span>'
    ]
    # a colour value is numeric: nothing of the escape's text reaches an attribute
    assert render("\x1b[38;2;999;1;2mx") == ['<span style="color:#ff0102">x</span>']
    # a malformed sequence loses its ESC: no control character reaches the page
    assert render("\x1b[38;2;-1mx\x1b") == ["[38;2;-1mx"]


def test_a_carriage_return_keeps_the_last_state_of_the_line() -> None:
    assert render("10%\r50%\r100%") == ["100%"]
    assert render("windows line\r") == ["windows line"]
