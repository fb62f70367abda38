"""HTML to readable text with the standard library's ``html.parser``: no browser, no heavy dependencies."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never text a reader wants.
_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form", "button", "select", "iframe"}
)
_SKIP_ROLES = frozenset({"navigation", "search", "banner", "contentinfo"})
_SKIP_CLASSES = frozenset({"headerlink"})  # permalink anchors ("¶") next to headings
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl", "dt", "figcaption",
        "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "thead", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "pre", "section", "table", "h1", "h2", "h3", "h4", "h5", "h6"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.first_h1 = ""
        self._parts: list[str] = []  # all visible text
        self._main: list[str] = []  # text inside <main> / role="main", when the page marks one
        self._skip: tuple[str, int] | None = None  # (tag, nesting depth) of the element being skipped
        self._main_depth: tuple[str, int] | None = None
        self._seen_main = False
        self._pending = 0  # line breaks owed before the next text
        self._pre = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_parts: list[str] = []

    def _write(self, text: str) -> None:
        self._parts.append(text)
        if self._main_depth is not None:
            self._main.append(text)

    def _text(self, text: str) -> None:
        if self._pending:
            self._write("\n" * self._pending)
            self._pending = 0
        self._write(text)

    def _break(self, lines: int) -> None:
        self._pending = max(self._pending, lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        if tag in _SKIP_TAGS or values.get("role") in _SKIP_ROLES or classes & _SKIP_CLASSES:
            if tag not in _VOID_TAGS:
                self._skip = (tag, 1)
            return
        if self._main_depth is not None and tag == self._main_depth[0]:
            self._main_depth = (tag, self._main_depth[1] + 1)
        elif self._main_depth is None and (tag == "main" or values.get("role") == "main"):
            self._main_depth, self._seen_main = (tag, 1), True
        if tag == "pre":
            self._pre += 1
        if tag == "h1" and not self.first_h1:
            self._in_h1 = True
        if tag == "br":
            self._break(1)
        elif tag in _BLOCK_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        elif tag in ("td", "th") and not self._pending:
            self._write("\t")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip is None and tag == "br":
            self._break(1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip is not None:
            if tag == self._skip[0]:
                depth = self._skip[1] - 1
                self._skip = (tag, depth) if depth else None
            return
        if tag == "pre" and self._pre:
            self._pre -= 1
        if tag == "h1" and self._in_h1:
            self._in_h1 = False
            self.first_h1 = _SPACES.sub(" ", "".join(self._h1_parts)).strip()
        if tag in _BLOCK_TAGS:
            self._break(2 if tag in _PARAGRAPH_TAGS else 1)
        if self._main_depth is not None and tag == self._main_depth[0]:
            depth = self._main_depth[1] - 1
            self._main_depth = (tag, depth) if depth else None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip is not None:
            return
        if self._in_h1:
            self._h1_parts.append(data)
        if self._pre:
            self._text(data.replace("\u00a0", " "))
            return
        text = _SPACES.sub(" ", data.replace("\n", " "))
        if self._pending:
            text = text.lstrip()
            if not text:
                return  # whitespace between blocks
        self._text(text)

    def text(self) -> str:
        parts = self._main if self._seen_main and any(p.strip() for p in self._main) else self._parts
        lines = "\n".join(line.rstrip() for line in "".join(parts).split("\n"))
        return _BLANK_LINES.sub("\n\n", lines).strip()


def html_to_text(html: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: its first ``<h1>`` (else its ``<title>``) and its visible text.

    Scripts, styles, navigation (``<nav>``, ``role="navigation"``), forms and footers are dropped; when the
    page marks its main content (``<main>`` or ``role="main"``) only that is kept. Block elements become
    line breaks, ``<pre>`` keeps its layout, other whitespace is collapsed.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    title = parser.first_h1 or _SPACES.sub(" ", parser.title.replace("\n", " ")).strip()
    return title, parser.text()
