"""Corpus readers: JSONL records (with errors naming file, line and field), folders, HTML to text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolgym.search.corpus import CorpusError, read_corpus, read_folder, read_jsonl, split_contents
from toolgym.search.html_text import html_to_text

PAGE = """<!DOCTYPE html><html><head><title>bisect &#8212; Site docs</title>
<script>var x = "<p>not text</p>";</script><style>p { color: red }</style></head>
<body><nav role="navigation"><a href="/">Home</a> <a href="/next">next</a></nav>
<div class="sphinxsidebar" role="navigation"><ul><li>Sidebar link</li></ul></div>
<div class="body" role="main">
<h1>bisect &mdash; Array bisection<a class="headerlink" href="#x">¶</a></h1>
<p>Locate the   insertion
point for <code>x</code> in&nbsp;<em>a</em>.</p>
<pre>def f(a):
    return a[0]</pre>
<ul><li>first item</li><li>second item</li></ul>
<table><tr><td>key</td><td>value</td></tr></table>
<img src="x.png"><br/>After break
</div>
<div class="footer" role="contentinfo">Copyright 2024</div><footer>Site footer</footer></body></html>"""


def test_html_keeps_main_text_and_drops_chrome() -> None:
    title, text = html_to_text(PAGE)
    assert title == "bisect — Array bisection"
    assert "Locate the insertion point for x in a." in text
    assert "def f(a):\n    return a[0]" in text  # <pre> keeps its layout
    assert "first item\n" in text and "second item" in text
    assert "key\tvalue" in text
    assert "After break" in text
    for chrome in ("not text", "color: red", "Home", "Sidebar link", "Copyright", "Site footer", "¶"):
        assert chrome not in text


def test_html_without_main_keeps_all_visible_text_and_falls_back_to_title() -> None:
    title, text = html_to_text("<html><head><title> A  page </title></head><body><p>one</p><p>two</p></body></html>")
    assert title == "A page"
    assert text == "one\n\ntwo"


def test_html_survives_broken_markup() -> None:
    title, text = html_to_text("<div><p>unclosed <b>bold <script>x</div> tail")
    assert title == ""
    assert "unclosed bold" in text


def test_jsonl_reads_records_and_search_r1_contents(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    records = [
        {"id": "a", "title": "Alpha", "text": "first"},
        {"id": 7, "text": "no title"},
        {"id": "s", "contents": '"Search R1 Title"\nbody text'},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    docs = list(read_jsonl(path))
    assert [(d.id, d.title, d.text) for d in docs] == [
        ("a", "Alpha", "first"),
        ("7", "", "no title"),
        ("s", "Search R1 Title", "body text"),
    ]
    assert docs[1].source == f"{path}:2"
    assert split_contents("no newline") == ("", "no newline")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"text": "x"}', "field 'id': must be a string or an integer (missing)"),
        ('{"id": true, "text": "x"}', "field 'id'"),
        ('{"id": " ", "text": "x"}', "field 'id': must not be empty"),
        ('{"id": "a"}', "field 'text': missing"),
        ('{"id": "a", "text": 3}', "field 'text': must be a string"),
        ('{"id": "a", "text": "x", "title": ["t"]}', "field 'title': must be a string"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "text": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        list(read_jsonl(path))
    assert str(info.value).startswith(f"{path}:2: ")
    assert message in str(info.value)


def test_folder_reads_text_markdown_and_html_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.txt").write_text("plain text", encoding="utf-8")
    (tmp_path / "a.md").write_text("intro\n# Heading One\nbody", encoding="utf-8")
    (tmp_path / "sub" / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "sub" / "genindex.html").write_text("<p>index</p>", encoding="utf-8")
    (tmp_path / ".hidden" / "x.txt").write_text("secret", encoding="utf-8")
    (tmp_path / ".dot.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01")
    docs = list(read_folder(tmp_path, exclude=["genindex*"]))
    assert [d.id for d in docs] == ["a.md", "b.txt", "sub/page.html"]
    assert [d.title for d in docs] == ["Heading One", "b", "bisect — Array bisection"]
    assert "Locate the insertion point" in docs[2].text
    only_html = list(read_corpus(tmp_path, include=["*.html"]))
    assert [d.id for d in only_html] == ["sub/genindex.html", "sub/page.html"]
    assert [d.id for d in read_corpus(tmp_path, include=["sub/*"], exclude=["*index*"])] == ["sub/page.html"]


def test_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file or folder"):
        read_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="cannot read"):
        list(read_jsonl(tmp_path / "nope.jsonl"))
    single = tmp_path / "one.md"
    single.write_text("# One\ntext", encoding="utf-8")
    assert [(d.id, d.title) for d in read_corpus(single)] == [("one.md", "One")]


def test_worker_processes_give_the_same_documents_in_the_same_order(tmp_path: Path) -> None:
    for i in range(9):
        (tmp_path / f"page{i}.html").write_text(f"<h1>Page {i}</h1><p>text {i}</p>", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text("not read: not matching the include")
    serial = list(read_folder(tmp_path, include=["*.html"]))
    parallel = list(read_folder(tmp_path, include=["*.html"], workers=2))
    assert parallel == serial and [d.title for d in serial] == [f"Page {i}" for i in range(9)]
