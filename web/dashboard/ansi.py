"""Terminal output to HTML for the build log: SGR colours and weights become ``<span>`` classes.

Text is escaped first; only spans made here reach the page, so a log cannot inject markup.
Colours carry from line to line (a tool may colour several lines with one code) through a
:class:`AnsiState` the caller keeps per section. Other escape sequences (cursor moves, window
titles) are dropped, and a carriage return keeps what was written after it, as a terminal
shows a progress bar's last state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

# CSI (parameters, intermediates, final byte), OSC (up to BEL or ST), a two-byte escape, or a
# lone ESC: all removed; only CSI ... m (SGR) changes the state
_ESCAPE = re.compile(r"\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|)")
_BASIC = 8


@dataclass
class AnsiState:
    """The attributes in force: foreground, background, bold, dim, italic, underline."""

    fg: str | None = None
    bg: str | None = None
    flags: set[str] = field(default_factory=set)

    def css(self) -> tuple[str, str]:
        """(class list, inline style) for a span with these attributes."""
        classes = sorted(self.flags)
        style = []
        for kind, colour in (("fg", self.fg), ("bg", self.bg)):
            if colour is None:
                continue
            if colour.startswith("#"):
                style.append(f"{'color' if kind == 'fg' else 'background'}:{colour}")
            else:
                classes.append(f"{kind}{colour}")
        return " ".join(classes), ";".join(style)

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 0:
                self.fg, self.bg, self.flags = None, None, set()
            elif code in (1, 2, 3, 4):
                self.flags.add({1: "b", 2: "dim", 3: "i", 4: "u"}[code])
            elif code == 22:
                self.flags -= {"b", "dim"}
            elif code in (23, 24):
                self.flags.discard("i" if code == 23 else "u")
            elif 30 <= code <= 37 or 90 <= code <= 97:
                self.fg = str(code - 30 if code < 90 else code - 90 + _BASIC)
            elif 40 <= code <= 47 or 100 <= code <= 107:
                self.bg = str(code - 40 if code < 100 else code - 100 + _BASIC)
            elif code in (39, 49):
                setattr(self, "fg" if code == 39 else "bg", None)
            elif code in (38, 48):
                colour, used = _extended(codes[i + 1 :])
                setattr(self, "fg" if code == 38 else "bg", colour)
                i += used
            i += 1


def _extended(rest: list[int]) -> tuple[str | None, int]:
    """A 256-colour (``5;n``) or true-colour (``2;r;g;b``) argument: (colour, codes used)."""
    if rest[:1] == [5] and len(rest) >= 2:
        n = rest[1]
        if n < 16:
            return str(n), 2
        return _cube(n), 2
    if rest[:1] == [2] and len(rest) >= 4:
        r, g, b = (min(max(v, 0), 255) for v in rest[1:4])
        return f"#{r:02x}{g:02x}{b:02x}", 4
    return None, len(rest)


def _cube(n: int) -> str:
    if n >= 232:  # grey ramp
        level = 8 + (min(n, 255) - 232) * 10
        return f"#{level:02x}{level:02x}{level:02x}"
    n -= 16
    steps = [0, 95, 135, 175, 215, 255]
    r, g, b = steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    return f"#{r:02x}{g:02x}{b:02x}"


def line_html(text: str, state: AnsiState) -> str:
    """One line of output as escaped HTML with spans; ``state`` carries to the next line."""
    if "\r" in text:
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    out: list[str] = []
    pos = 0
    for match in _ESCAPE.finditer(text):
        _emit(out, text[pos : match.start()], state)
        pos = match.end()
        if match.group(2) == "m" and not match.group(1).startswith("?"):
            state.apply(match.group(1) or "0")
    _emit(out, text[pos:], state)
    return "".join(out)


def _emit(out: list[str], piece: str, state: AnsiState) -> None:
    if not piece:
        return
    classes, style = state.css()
    if not classes and not style:
        out.append(escape(piece, quote=False))
        return
    attrs = f' class="{classes}"' if classes else ""
    attrs += f' style="{style}"' if style else ""
    out.append(f"<span{attrs}>{escape(piece, quote=False)}</span>")
