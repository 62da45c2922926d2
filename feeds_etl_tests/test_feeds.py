"""The feed list: valid lists load, every kind of mistake gets a message naming file, entry and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds_etl.feeds import REPO_ROOT, FeedListError, load_feed_list, parse_feed_list


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_feed_list_loads_with_paths_resolved_against_the_repo() -> None:
    feeds = load_feed_list(REPO_ROOT / "data" / "feeds.yaml")
    names = [feed.feed_id for feed in feeds.feeds]
    assert names[0] == "novastan-migrants" and len(names) == len(set(names)) == 5
    assert feeds.feeds[0].url == (REPO_ROOT / "data/samples/novastan-migrants.rss.xml").as_uri()
    assert feeds.tag_aliases["Россия"] == "russia"


def test_urls_paths_and_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
allow_local_files: true
feeds:
  - {name: web, url: "https://example.org/feed"}
  - {name: local, url: "file:///srv/feed.xml", enabled: false}
  - name: absolute
    url: /srv/other.xml
    history: {mode: wordpress, max_pages: 3}
    boilerplate: {selectors: [".share"], phrases: ["Support us"]}
""",
    )
    feeds = load_feed_list(path)
    web, local, absolute = feeds.feeds
    assert web.url == "https://example.org/feed"
    assert local.url == "file:///srv/feed.xml" and not local.enabled
    assert absolute.url == "file:///srv/other.xml"
    assert absolute.history.mode == "wordpress" and absolute.history.max_pages == 3
    assert absolute.boilerplate.selectors == (".share",)
    assert [f.feed_id for f in feeds.enabled] == ["web", "absolute"]
    assert feeds.allow_local_files and not feeds.allow_private_networks
    assert web.full_text == "auto" and web.title is None and web.group is None and web.html_url is None


def test_titles_groups_and_full_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
allow_private_networks: true
feeds:
  - name: blog
    url: https://example.org/feed
    title: "Example: a blog"
    group: Tech
    html_url: https://example.org/
    full_text: always
  - {name: other, url: "https://example.net/feed", full_text: never}
""",
    )
    feeds = load_feed_list(path)
    blog, other = feeds.feeds
    assert (blog.title, blog.group, blog.html_url, blog.full_text) == (
        "Example: a blog",
        "Tech",
        "https://example.org/",
        "always",
    )
    assert other.full_text == "never"
    assert feeds.allow_private_networks and not feeds.allow_local_files


@pytest.mark.parametrize("url", ["data/samples/novastan-migrants.rss.xml", "/srv/feed.xml", "file:///srv/feed.xml"])
def test_local_files_are_refused_unless_allowed(tmp_path: Path, url: str) -> None:
    path = write(
        tmp_path, f"feeds:\n  - {{name: web, url: 'https://example.org/'}}\n  - {{name: disk, url: '{url}'}}\n"
    )
    with pytest.raises(FeedListError) as caught:
        load_feed_list(path)
    message = str(caught.value)
    assert str(path) in message and "feed #2 ('disk')" in message and "allow_local_files: true" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feeds: [\n  - name: a\n", "not valid YAML"),
        ("- just a list\n", "top-level 'feeds:'"),
        ("feeds: []\n", "non-empty list"),
        ("feeds:\n  - url: x.xml\n", "feed #1: 'name' must be"),
        ("feeds:\n  - name: a\n", "feed #1 ('a'): 'url' is required"),
        ("feeds:\n  - {name: a, url: a.xml}\n  - {name: a, url: b.xml}\n", "feed #2 ('a'): duplicate name"),
        ("feeds:\n  - {name: a, url: a.xml, colour: red}\n", "unknown key(s) ['colour']"),
        ("feeds:\n  - {name: a, url: 'ftp://x/feed'}\n", "unsupported URL scheme"),
        ("feeds:\n  - {name: a, url: a.xml, enabled: maybe}\n", "'enabled' must be true or false"),
        ("feeds:\n  - {name: 'bad name!', url: a.xml}\n", "'name' must be"),
        ("feeds:\n  - {name: a, url: a.xml, history: {max_pages: 0}}\n", "history.max_pages"),
        ("feeds:\n  - {name: a, url: a.xml}\ntag_aliases: [x]\n", "tag_aliases"),
        ("feeds:\n  - {name: a, url: a.xml, full_text: sometimes}\n", "'full_text' must be auto, always or never"),
        ("feeds:\n  - {name: a, url: a.xml, title: [x]}\n", "'title' must be text"),
        ("feeds:\n  - {name: a, url: a.xml, html_url: 'javascript:x'}\n", "'html_url' must be an http(s) URL"),
        ("allow_local_files: yes please\nfeeds:\n  - {name: a, url: a.xml}\n", "'allow_local_files' must be true"),
        ("allow_private_networks: 1\nfeeds:\n  - {name: a, url: a.xml}\n", "'allow_private_networks' must be"),
    ],
)
def test_malformed_lists_name_the_file_entry_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FeedListError) as caught:
        load_feed_list(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeedListError, match="feed list not found"):
        load_feed_list(tmp_path / "nope.yaml")


def test_defaults_apply_to_every_feed_unless_it_sets_its_own(tmp_path: Path) -> None:
    document = {
        "defaults": {"full_text": "never", "group": "News"},
        "feeds": [
            {"name": "a", "url": "https://a.example/feed"},
            {"name": "b", "url": "https://b.example/feed", "full_text": "always"},
        ],
    }
    feeds = parse_feed_list(document, tmp_path / "feeds.yaml").by_id()
    assert (feeds["a"].full_text, feeds["a"].group) == ("never", "News")
    assert (feeds["b"].full_text, feeds["b"].group) == ("always", "News")
    with pytest.raises(FeedListError, match=r"defaults: key\(s\) \['url'\] cannot be defaults"):
        parse_feed_list({"defaults": {"url": "x"}, "feeds": document["feeds"]}, tmp_path / "feeds.yaml")
