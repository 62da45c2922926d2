"""OPML in and out: as the feed list, `import-opml` into the YAML list, `export-opml`, and hostile files."""

from __future__ import annotations

import json
import os
import subprocess
from html import escape
from pathlib import Path

import pytest

from feeds_etl import cli
from feeds_etl.feeds import REPO_ROOT, FeedListError, load_feed_list
from feeds_etl.opml import OpmlFeed, assign_names, export_opml, import_opml, read_opml, slugify
from feeds_etl_tests.conftest import Project
from feeds_etl_tests.feed_server import FeedServer
from feeds_etl_tests.test_articles import ARTICLE_PAGE, ARTICLE_PARAGRAPHS, prose, rss_feed, teaser_html
from feeds_etl_tests.test_backfill import env_for

# The shape miniflux's OPML export has: one outline per category, feeds as empty-bodied outlines inside.
MINIFLUX = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
    <head>
        <title>Miniflux</title>
        <dateCreated>Tue, 03 Nov 2026 10:00:00 UTC</dateCreated>
    </head>
    <body>
        <outline text="All">
            <outline title="Miniflux" text="Miniflux" xmlUrl="https://miniflux.app/feed.xml" \
htmlUrl="https://miniflux.app/" description="Minimalist feed reader"></outline>
            <outline title="Новости Казахстана" text="Новости Казахстана" \
xmlUrl="https://kz.example.org/rss?lang=ru&amp;n=50" htmlUrl="https://kz.example.org/"></outline>
        </outline>
        <outline text="Tech &amp; Science">
            <outline title="Ars Technica" text="Ars Technica" xmlUrl="https://feeds.arstechnica.com/arstechnica/index" \
htmlUrl="https://arstechnica.com/"></outline>
            <outline title="JSON Feed" text="JSON Feed" xmlUrl="https://www.jsonfeed.org/feed.json" \
htmlUrl="https://www.jsonfeed.org/"></outline>
        </outline>
    </body>
</opml>
"""

# The shape FreshRSS exports: its own namespace, tab indentation, self-closing feed outlines, and sources
# that are web scraping rather than feeds (type HTML+XPath).
FRESHRSS = """<?xml version="1.0" encoding="UTF-8"?>
<opml xmlns:frss="https://freshrss.org/opml" version="2.0">
\t<head>
\t\t<title>FreshRSS</title>
\t\t<dateCreated>Tue, 03 Nov 2026 10:00:00 +0000</dateCreated>
\t</head>
\t<body>
\t\t<outline text="Uncategorized">
\t\t\t<outline text="FreshRSS releases" type="rss" xmlUrl="https://github.com/FreshRSS/FreshRSS/releases.atom" \
htmlUrl="https://github.com/FreshRSS/FreshRSS/" description="FreshRSS releases @ GitHub"/>
\t\t</outline>
\t\t<outline text="Central Asia">
\t\t\t<outline text="Novastan" type="rss" xmlUrl="https://novastan.org/en/feed/" htmlUrl="https://novastan.org/en/" \
description="Central Asia news" frss:cssFullContent="article .entry-content"/>
\t\t\t<outline text="Steppe wire" type="rss" xmlUrl="https://steppe.example.com/atom.xml" \
htmlUrl="https://steppe.example.com/" frss:filtersActionRead="intitle:ad"/>
\t\t\t<outline text="Bazaar page" type="HTML+XPath" xmlUrl="https://bazaar.example.com/news" \
htmlUrl="https://bazaar.example.com/news" frss:xPathItem="//article" frss:xPathItemTitle="descendant::h2"/>
\t\t</outline>
\t</body>
</opml>
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_miniflux_export_as_the_feed_list(tmp_path: Path) -> None:
    feeds = load_feed_list(write(tmp_path / "subs.opml", MINIFLUX))
    by_url = {feed.url: feed for feed in feeds.feeds}
    assert len(by_url) == 4 and not feeds.allow_local_files and not feeds.allow_private_networks
    miniflux = by_url["https://miniflux.app/feed.xml"]
    assert (miniflux.name, miniflux.title, miniflux.group, miniflux.html_url) == (
        "miniflux",
        "Miniflux",
        "All",
        "https://miniflux.app/",
    )
    # Cyrillic titles slugify to nothing: the host names the feed.
    kazakh = by_url["https://kz.example.org/rss?lang=ru&n=50"]
    assert kazakh.name == "kz-example-org" and kazakh.title == "Новости Казахстана" and kazakh.group == "All"
    ars = by_url["https://feeds.arstechnica.com/arstechnica/index"]
    assert ars.name == "ars-technica" and ars.group == "Tech & Science"
    assert all(feed.full_text == "auto" and feed.enabled for feed in feeds.feeds)


def test_freshrss_export_imports_its_feeds_and_refuses_its_scraping_sources(tmp_path: Path) -> None:
    opml = write(tmp_path / "freshrss.xml", FRESHRSS)  # detected by content, not by extension
    document = read_opml(opml.read_bytes(), str(opml))
    assert [(feed.title, feed.group) for feed in document.feeds] == [
        ("FreshRSS releases", "Uncategorized"),
        ("Novastan", "Central Asia"),
        ("Steppe wire", "Central Asia"),
    ]
    assert len(document.refused) == 1 and "'Bazaar page'" in document.refused[0]
    assert "HTML+XPath" in document.refused[0]

    with pytest.raises(FeedListError, match="Bazaar page"):
        load_feed_list(opml)  # as the feed list, a refused outline is an error; import-opml takes the rest
    yaml_file = write(tmp_path / "feeds.yaml", "feeds:\n  - name: existing\n    url: https://example.org/feed\n")
    report = import_opml(opml, yaml_file)
    assert [feed.name for feed in report.added] == ["freshrss-releases", "novastan", "steppe-wire"]
    assert report.refused == list(document.refused)
    novastan = load_feed_list(yaml_file).by_id()["novastan"]
    assert novastan.group == "Central Asia" and novastan.html_url == "https://novastan.org/en/"


def test_names_are_unique_and_independent_of_outline_order() -> None:
    feeds = [
        OpmlFeed("https://a.example/feed", "News"),
        OpmlFeed("https://b.example/feed", "News!"),
        OpmlFeed("https://c.example/feed", "Café Olé"),
        OpmlFeed("https://d.example/feed", None),
    ]
    names = assign_names(feeds)
    assert names[2:] == ["cafe-ole", "d-example"]
    assert names[0].startswith("news-") and names[1].startswith("news-") and names[0] != names[1]
    assert dict(zip(reversed(feeds), assign_names(list(reversed(feeds))), strict=True)) == dict(
        zip(feeds, names, strict=True)
    )
    # A name already in the YAML list is never reused.
    assert assign_names(feeds[2:3], taken={"cafe-ole"})[0].startswith("cafe-ole-")
    assert slugify("  Hello, World — 2026!  ") == "hello-world-2026"


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "/etc/passwd", "feeds/local.xml", "ftp://example.org/feed", "javascript:alert(1)"],
)
def test_local_and_odd_urls_are_refused_and_nothing_is_read(tmp_path: Path, url: str) -> None:
    opml = write(
        tmp_path / "subs.opml",
        f'<opml version="2.0"><body><outline text="Sneaky" xmlUrl="{url}"/>'
        '<outline text="Fine" xmlUrl="https://example.org/feed"/></body></opml>',
    )
    with pytest.raises(FeedListError) as caught:
        load_feed_list(opml)
    message = str(caught.value)
    assert str(opml) in message and "outline 'Sneaky'" in message and "only http(s)" in message
    yaml_file = write(tmp_path / "feeds.yaml", "feeds:\n  - {name: other, url: 'https://other.example/feed'}\n")
    report = import_opml(opml, yaml_file)
    assert [feed.url for feed in report.added] == ["https://example.org/feed"]
    assert len(report.refused) == 1 and "Sneaky" in report.refused[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<opml version="2.0"><body><outline text="a" xmlUrl="https://a.example/"/>', "not well-formed XML"),
        ("", "not well-formed XML"),
        ("<rss version='2.0'><channel/></rss>", "not an OPML document (its root element is <rss>)"),
        ('<opml version="2.0"><body><outline text="empty folder"/></body></opml>', "no outline with an xmlUrl"),
    ],
)
def test_malformed_opml_names_file_and_problem_and_writes_nothing(tmp_path: Path, text: str, expected: str) -> None:
    opml = write(tmp_path / "bad.opml", text)
    with pytest.raises(FeedListError) as caught:
        load_feed_list(opml)
    assert str(opml) in str(caught.value) and expected in str(caught.value)
    if "xmlUrl" in expected:
        return
    yaml_text = "# mine\nfeeds:\n  - {name: a, url: 'https://a.example/feed'}\n"
    yaml_file = write(tmp_path / "feeds.yaml", yaml_text)
    with pytest.raises(FeedListError):
        import_opml(opml, yaml_file)
    assert yaml_file.read_text(encoding="utf-8") == yaml_text


def test_entity_tricks_are_refused_before_any_parser_sees_them(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "TOP-SECRET\n")
    xxe = (
        f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        '<opml version="2.0"><body><outline text="&xxe;" xmlUrl="https://a.example/feed"/></body></opml>'
    )
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY l0 "lol">{lol}]>\n'
        '<opml version="2.0"><body><outline text="&l9;" xmlUrl="https://a.example/feed"/></body></opml>'
    )
    for name, text in (("xxe.opml", xxe), ("bomb.opml", bomb)):
        with pytest.raises(FeedListError, match="declares entities"):
            load_feed_list(write(tmp_path / name, text))


def test_import_keeps_comments_and_order_and_skips_listed_urls(tmp_path: Path) -> None:
    yaml_text = """# My feeds. Keep this comment.
allow_local_files: true
feeds:
  # Central Asia
  - name: novastan
    url: HTTPS://Novastan.org/en/feed/   # listed already, with another spelling of the host
    full_text: always
  - name: miniflux
    url: data/samples/steppe-wire.atom.xml

# Synonyms
tag_aliases:
  russia: [Россия]
"""
    yaml_file = write(tmp_path / "feeds.yaml", yaml_text)
    opml = write(
        tmp_path / "subs.opml", MINIFLUX.replace("https://www.jsonfeed.org/feed.json", "https://novastan.org/en/feed/")
    )
    report = import_opml(opml, yaml_file)
    assert report.skipped == [("https://novastan.org/en/feed/", "novastan")]
    # 'miniflux' is taken in the YAML list, so the OPML's Miniflux gets a suffix; the others keep their slug.
    added = {feed.url: feed.name for feed in report.added}
    assert added["https://miniflux.app/feed.xml"].startswith("miniflux-")
    assert added["https://feeds.arstechnica.com/arstechnica/index"] == "ars-technica"
    text = yaml_file.read_text(encoding="utf-8")
    # The new entries go right after the last one; every line around them is as it was.
    assert text.startswith(yaml_text.split("\n\n# Synonyms")[0] + "\n  - name: ")
    assert text.endswith("\n\n# Synonyms\ntag_aliases:\n  russia: [Россия]\n")
    feeds = load_feed_list(yaml_file)
    assert [feed.name for feed in feeds.feeds][:2] == ["novastan", "miniflux"] and len(feeds.feeds) == 5
    assert feeds.by_id()["ars-technica"].group == "Tech & Science" and feeds.tag_aliases == {"Россия": "russia"}

    again = import_opml(opml, yaml_file)  # re-importing adds nothing and writes nothing
    assert not again.added and len(again.skipped) == 4
    assert yaml_file.read_text(encoding="utf-8") == text


def test_export_then_import_round_trips_a_list(tmp_path: Path) -> None:
    source = write(
        tmp_path / "feeds.yaml",
        """allow_local_files: true
feeds:
  - {name: miniflux, url: "https://miniflux.app/feed.xml", title: Miniflux, group: Readers,
     html_url: "https://miniflux.app/"}
  - {name: plain, url: "https://example.org/feed?a=1&b=2"}
  - {name: ars, url: "https://feeds.arstechnica.com/arstechnica/index", title: "Ars <Technica>", group: Tech}
  - {name: local, url: data/samples/steppe-wire.atom.xml}
""",
    )
    text, left_out = export_opml(load_feed_list(source))
    assert [feed.name for feed in left_out] == ["local"]
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    exported = write(tmp_path / "out.opml", text)
    feeds = load_feed_list(exported).feeds
    assert [(f.url, f.title, f.group, f.html_url) for f in feeds] == [
        ("https://miniflux.app/feed.xml", "Miniflux", "Readers", "https://miniflux.app/"),
        ("https://example.org/feed?a=1&b=2", "plain", None, None),
        ("https://feeds.arstechnica.com/arstechnica/index", "Ars <Technica>", "Tech", None),
    ]

    target = tmp_path / "new" / "feeds.yaml"  # a list that does not exist yet is created
    report = import_opml(exported, target)
    assert [feed.name for feed in report.added] == ["miniflux", "plain", "ars-technica"]
    reloaded = load_feed_list(target).feeds
    assert [(f.url, f.title, f.group, f.html_url) for f in reloaded] == [
        (f.url, f.title, f.group, f.html_url) for f in feeds
    ]


def test_cli_import_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    yaml_file = write(tmp_path / "feeds.yaml", "feeds:\n  - {name: a, url: 'https://miniflux.app/feed.xml'}\n")
    monkeypatch.setenv("FEEDS_ETL_FEEDS", str(yaml_file))
    opml = write(tmp_path / "subs.opml", MINIFLUX)
    assert cli.main(["import-opml", str(opml)]) == 0
    out = capsys.readouterr().out
    assert f"added 3 feed(s) to {yaml_file}" in out and "ars-technica" in out
    assert "skipped 1 already listed" in out and "https://miniflux.app/feed.xml (as a)" in out

    assert cli.main(["export-opml"]) == 0
    exported = capsys.readouterr().out
    assert exported.count("xmlUrl=") == 4 and '<outline text="Tech &amp; Science"' in exported

    bad = write(tmp_path / "bad.opml", "<opml><body>")
    before = yaml_file.read_text(encoding="utf-8")
    assert cli.main(["import-opml", str(bad)]) == 2
    assert "not well-formed XML" in capsys.readouterr().err
    assert yaml_file.read_text(encoding="utf-8") == before


# -- the README's command on an OPML list --------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_make_run_on_an_opml_list_loads_rss_atom_and_json_feeds_and_fills_teasers(
    project: Project, feed_server: FeedServer, tmp_path: Path
) -> None:
    """`FEEDS_ETL_FEEDS=subs.opml make run`: the list a feed reader exported, with a teaser in the RSS feed and
    one in the JSON Feed, served on loopback (FEEDS_ETL_ALLOW_PRIVATE_NETWORKS=1: OPML cannot say so)."""
    server = feed_server
    for n in (1, 2):
        server.add_feed(f"/articles/story-{n}", ARTICLE_PAGE.replace("The story", f"Story {n}").encode(), "text/html")
    full = [f"<p>{prose(n, 250)}</p>" for n in range(4)]
    server.add_feed(
        "/news.rss",
        rss_feed(
            "News",
            [("story-1", server.url("/articles/story-1"), teaser_html(1, "#")),
             ("news-full", server.url("/news/full"), full[0])],
        ),
    )  # fmt: skip
    atom_entries = "".join(
        f"<entry><id>urn:blog:{n}</id><title>Blog post {n}</title><link href='{server.url(f'/blog/{n}')}'/>"
        f"<updated>2026-11-24T10:00:00Z</updated><content type='html'>{escape(full[n])}</content></entry>"
        for n in (1, 2)
    )
    server.add_feed(
        "/blog.atom",
        f"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><id>urn:blog</id><title>Blog</title>"
        f"<updated>2026-11-24T10:00:00Z</updated>{atom_entries}</feed>".encode(),
        "application/atom+xml",
    )
    json_items = [
        {"id": "story-2", "url": server.url("/articles/story-2"), "title": "Story 2",
         "content_html": teaser_html(2, "#"), "date_published": "2026-11-24T10:00:00Z"},
        {"id": "notes-full", "url": server.url("/notes/full"), "title": "A full note", "content_html": full[3],
         "date_published": "2026-11-24T10:00:00Z", "tags": ["Notes"]},
    ]  # fmt: skip
    server.add_feed(
        "/notes.json",
        json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Notes", "items": json_items}).encode(),
        "application/feed+json",
    )
    opml = tmp_path / "subs.opml"
    opml.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Subscriptions</title></head><body>
<outline text="News"><outline type="rss" text="The News" xmlUrl="{server.url("/news.rss")}"/>
<outline type="rss" text="Notes" xmlUrl="{server.url("/notes.json")}"/></outline>
<outline text="Blogs"><outline type="rss" text="A Blog" xmlUrl="{server.url("/blog.atom")}"/></outline>
</body></opml>""",
        encoding="utf-8",
    )
    env = {**env_for(project), "FEEDS_ETL_FEEDS": str(opml), "FEEDS_ETL_ALLOW_PRIVATE_NETWORKS": "1"}
    done = subprocess.run(
        ["make", "--no-print-directory", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    feeds = dict(project.query("SELECT feed_id, feed_group FROM feeds"))
    assert feeds == {"the-news": "News", "notes": "News", "a-blog": "Blogs"}
    per_feed = dict(project.query("SELECT feed_id, count(*) FROM items GROUP BY feed_id"))
    assert per_feed == {"the-news": 2, "notes": 2, "a-blog": 2}
    rows = project.query(
        "SELECT i.guid, t.text, t.text_source, t.article_status FROM item_text t JOIN items i USING (item_id)"
    )
    got = {guid: (text, source, status) for guid, text, source, status in rows}
    for guid in ("story-1", "story-2"):  # the teasers of the RSS feed and of the JSON Feed
        text, source, status = got[guid]
        assert (source, status) == ("article", "article"), (guid, got[guid])
        assert all(paragraph in text for paragraph in ARTICLE_PARAGRAPHS)
    # Full-text items keep the feed's text, and nothing else was asked for.
    assert {got[guid][1:] for guid in ("news-full", "notes-full", "urn:blog:1", "urn:blog:2")} == {("feed", None)}
    assert server.requests["/articles/story-1"] == server.requests["/articles/story-2"] == 1
    assert not [path for path in server.requests if path.startswith(("/news/", "/notes/", "/blog/"))]


def test_private_networks_are_allowed_for_an_opml_list_only_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opml = write(tmp_path / "subs.opml", MINIFLUX)
    assert not load_feed_list(opml).allow_private_networks
    monkeypatch.setenv("FEEDS_ETL_ALLOW_PRIVATE_NETWORKS", "1")
    assert load_feed_list(opml).allow_private_networks
    monkeypatch.setenv("FEEDS_ETL_ALLOW_PRIVATE_NETWORKS", "maybe")
    with pytest.raises(FeedListError, match="FEEDS_ETL_ALLOW_PRIVATE_NETWORKS='maybe': expected 1 or 0"):
        load_feed_list(opml)


@pytest.mark.e2e
def test_make_export_opml_then_make_import_opml_round_trip_a_list(tmp_path: Path) -> None:
    source = write(
        tmp_path / "feeds.yaml",
        """feeds:
  - {name: miniflux, url: "https://miniflux.app/feed.xml", title: Miniflux, group: Readers}
  - {name: plain, url: "https://example.org/feed?a=1&b=2"}
""",
    )

    def make(feeds: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FEEDS_ETL_FEEDS": str(feeds)}
        command = ["make", "--no-print-directory", *args]
        return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)

    exported = make(source, "export-opml")
    assert exported.returncode == 0, exported.stderr
    opml = write(tmp_path / "subs.opml", exported.stdout)
    target = tmp_path / "copy.yaml"
    imported = make(target, "import-opml", f"FILE={opml}")
    assert imported.returncode == 0, imported.stderr
    assert "miniflux" in imported.stdout and "plain" in imported.stdout
    assert [(f.url, f.title, f.group) for f in load_feed_list(target).feeds] == [
        ("https://miniflux.app/feed.xml", "Miniflux", "Readers"),
        ("https://example.org/feed?a=1&b=2", "plain", None),
    ]
