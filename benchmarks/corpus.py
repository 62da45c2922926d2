"""Deterministic benchmark corpus: N feeds x M items, RSS 2.0 and Atom, long HTML articles.

The same (seed, feeds, items) always gives byte-identical feeds. `Corpus.mutate()` changes a fraction of
the feeds (new items pushing out the oldest, or edits of existing items), deterministically per generation,
to model the steady hourly state where most feeds are unchanged.

    python benchmarks/corpus.py --feeds 10 --items 5 --out /tmp/corpus   # write files to look at
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path


def _split(text: str) -> list[str]:
    return text.split()


BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # fixed, so the corpus does not depend on the clock

_WORDS = _split(
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there one all we their been has who would will more no if out so said what up its "
    "about into than them can only other new some could time these two may then first any like now my such "
    "make over our even most made after also did many before must through back years where much your way well "
    "down should because each just those people how too little state good very world still own see men work "
    "long get here between both life being under never day same another know while last might great old year "
    "off come since against go came right used take three government council minister budget water energy "
    "river bridge railway school hospital market farmers harvest drought festival election parliament court "
    "report research university students teachers village city region border trade export import grain cotton "
    "mining pipeline solar wind project funding contract investment company bank currency inflation prices "
    "wages workers union strike protest agreement treaty summit delegation visit announcement decision plan "
    "programme reform law policy committee official spokesman journalist newspaper television museum library "
    "history culture music theatre film artist writer poet tradition language heritage mountain valley lake "
    "desert steppe forest climate weather flood snow road airport flight passengers tourism hotel restaurant"
)
_TOPICS = _split(
    "Politics Economy Energy Water Agriculture Culture Music Film Education Health Science Technology Transport "
    "Railways Tourism Environment Climate Elections Parliament Courts Human-Rights Migration Labour Trade "
    "Banking Mining Oil-and-Gas Solar Infrastructure Cities Villages History Heritage Language Religion Sport "
    "Football Wrestling Chess Media Press-Freedom Diplomacy Borders Security Defence China Russia Kazakhstan "
    "Uzbekistan Kyrgyzstan Tajikistan Turkmenistan Afghanistan Mongolia Iran Turkey Caucasus Siberia Opinion "
    "Analysis Interview Photo-Essay Long-Read Explainer Feature Obituary Books Food Fashion Architecture Art"
)
_AUTHORS = ["Dilnoza R.", "Timur K.", "Aigerim S.", "Bakyt O.", "Farrukh N.", "Jamila T.", "Ruslan M.", "Zarina A."]
_N_SENTENCES = 4000


def _sentence_pool(seed: int) -> list[str]:
    rng = random.Random(f"sentences:{seed}")
    pool = []
    for _ in range(_N_SENTENCES):
        words = rng.choices(_WORDS, k=rng.randint(8, 24))
        pool.append(words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice(".....?!"))
    return pool


@dataclass
class ItemSpec:
    serial: int  # per feed, increasing: higher is newer
    edit: int = 0  # bumped by an edit: new body paragraph and updated date


@dataclass
class FeedState:
    index: int
    kind: str  # "rss" | "atom"
    interval: timedelta  # time between two items of this feed
    items: list[ItemSpec]
    next_serial: int
    version: int = 0
    body: bytes | None = field(default=None, repr=False)  # rendered lazily, dropped on change

    @property
    def name(self) -> str:
        return f"bench-{self.index:05d}"


class Corpus:
    """In-memory corpus. `body(i)` renders feed i (cached); `mutate()` changes ~fraction of the feeds."""

    def __init__(self, feeds: int, items: int, seed: int = 7, short_fraction: float = 0.15) -> None:
        self.n_feeds, self.n_items, self.seed, self.short_fraction = feeds, items, seed, short_fraction
        self.generation = 0
        self._sentences = _sentence_pool(seed)
        self.feeds: list[FeedState] = []
        for index in range(feeds):
            rng = random.Random(f"feed:{seed}:{index}")
            kind = "atom" if index % 3 == 0 else "rss"  # one feed in three is Atom
            # Items spread over weeks: a feed posts every 2 h .. 2 days, so 25 items cover 2 days .. 7 weeks.
            interval = timedelta(minutes=rng.randint(120, 2880))
            self.feeds.append(FeedState(index, kind, interval, [ItemSpec(s) for s in range(items)], items))

    # -- changes ----------------------------------------------------------------------------------

    def mutate(self, fraction: float = 0.05) -> list[int]:
        """Change ceil(fraction * N) feeds (60% get 1-3 new items, 40% get 1-2 edited items); returns them."""
        self.generation += 1
        rng = random.Random(f"mutate:{self.seed}:{self.generation}")
        count = min(self.n_feeds, math.ceil(fraction * self.n_feeds))
        chosen = sorted(rng.sample(range(self.n_feeds), count))
        for index in chosen:
            feed = self.feeds[index]
            if rng.random() < 0.6:
                for _ in range(rng.randint(1, 3)):
                    feed.items.append(ItemSpec(feed.next_serial))
                    feed.next_serial += 1
                feed.items = feed.items[-self.n_items :]
            else:
                for spec in rng.sample(feed.items, min(len(feed.items), rng.randint(1, 2))):
                    spec.edit += 1
            feed.version += 1
            feed.body = None
        return chosen

    # -- rendering --------------------------------------------------------------------------------

    def body(self, index: int) -> bytes:
        feed = self.feeds[index]
        if feed.body is None:
            feed.body = (_render_atom if feed.kind == "atom" else _render_rss)(self, feed)
        return feed.body

    def etag(self, index: int) -> str:
        return '"' + hashlib.sha256(self.body(index)).hexdigest()[:32] + '"'

    def content_type(self, index: int) -> str:
        kind = self.feeds[index].kind
        return "application/atom+xml; charset=utf-8" if kind == "atom" else "application/rss+xml; charset=utf-8"

    def total_bytes(self) -> int:
        return sum(len(self.body(i)) for i in range(self.n_feeds))

    def item(self, feed: FeedState, spec: ItemSpec) -> dict:
        """Everything about one item, derived from (seed, feed, serial, edit) alone."""
        rng = random.Random(f"item:{self.seed}:{feed.index}:{spec.serial}")
        published = BASE_TIME - feed.interval * (self.n_items - spec.serial) + timedelta(minutes=rng.randint(0, 59))
        title_words = rng.choices(_WORDS[60:], k=rng.randint(5, 11))
        tags = list(dict.fromkeys(_TOPICS[min(len(_TOPICS) - 1, int(rng.paretovariate(1.2))) - 1]
                                  for _ in range(rng.randint(1, 5))))  # fmt: skip
        tags = [t.lower() if rng.random() < 0.1 else t for t in tags]  # spelling variants to normalise
        short = rng.random() < self.short_fraction
        link = f"https://{feed.name}.example/{published:%Y/%m}/{spec.serial:05d}-{'-'.join(title_words[:4])}"
        summary = " ".join(rng.choices(self._sentences, k=rng.randint(2, 4)))
        html = None if short else self._article(rng, spec, link)
        updated = published + timedelta(hours=3 * spec.edit) if spec.edit else published
        return {
            "title": " ".join(title_words).capitalize() + (f" (updated {spec.edit})" if spec.edit else ""),
            "link": link,
            "guid": f"tag:{feed.name}.example,2026:{spec.serial}",
            "published": published,
            "updated": updated,
            "author": rng.choice(_AUTHORS),
            "tags": tags,
            "summary": summary,
            "html": html,
        }

    def _article(self, rng: random.Random, spec: ItemSpec, link: str) -> str:
        """~10 KB of article HTML: headings, paragraphs, inline markup, links, a quote, a list, an image."""
        parts = [f'<p><img src="{link}/lead.jpg" alt="lead photo" width="800" height="450"></p>']
        target = rng.randint(8500, 11500)
        size = 0
        n = 0
        while size < target:
            n += 1
            sentences = rng.choices(self._sentences, k=rng.randint(4, 8))
            if rng.random() < 0.5:
                i = rng.randrange(len(sentences))
                sentences[i] = f'<a href="https://source{rng.randint(1, 40)}.example/r/{rng.randint(1, 10**6)}">' \
                               f"{sentences[i]}</a>"  # fmt: skip
            if rng.random() < 0.3:
                sentences[0] = f"<strong>{sentences[0]}</strong>"
            if n % 5 == 0:
                chunk = f"<h2>{rng.choice(self._sentences)[:60]}</h2>"
            elif n % 7 == 0:
                chunk = f"<blockquote><p>{' '.join(sentences[:2])}</p></blockquote>"
            elif n % 11 == 0:
                chunk = "<ul>" + "".join(f"<li>{s}</li>" for s in sentences[:4]) + "</ul>"
            else:
                chunk = f"<p>{' '.join(sentences)}</p>"
            parts.append(chunk)
            size += len(chunk)
        if spec.edit:
            parts.append(f"<p><em>Update {spec.edit}:</em> {' '.join(rng.choices(self._sentences, k=3))}</p>")
        parts.append('<p>Share this: <a href="https://twitter.com/share">Twitter</a></p>')
        return "\n".join(parts)


def _rfc822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _render_rss(corpus: Corpus, feed: FeedState) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/'
        'content/" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>Bench feed {feed.index}</title>\n<link>https://{feed.name}.example/</link>\n"
        f"<description>Synthetic feed {feed.index}</description>\n<language>en</language>\n"
    ]
    for spec in reversed(feed.items):  # newest first, as feeds do
        item = corpus.item(feed, spec)
        cats = "".join(f"<category>{escape(t)}</category>" for t in item["tags"])
        content = f"<content:encoded><![CDATA[{item['html']}]]></content:encoded>" if item["html"] else ""
        out.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>"
            f'<guid isPermaLink="false">{item["guid"]}</guid><pubDate>{_rfc822(item["published"])}</pubDate>'
            f"<dc:creator>{escape(item['author'])}</dc:creator>{cats}"
            f"<description>{escape(item['summary'])}</description>{content}</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode()


def _render_atom(corpus: Corpus, feed: FeedState) -> bytes:
    newest = max(corpus.item(feed, s)["updated"] for s in feed.items[-3:])
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>Bench feed {feed.index}</title>\n<id>tag:{feed.name}.example,2026:feed</id>\n"
        f'<link rel="alternate" href="https://{feed.name}.example/"/>\n<updated>{newest.isoformat()}</updated>\n'
    ]
    for spec in reversed(feed.items):
        item = corpus.item(feed, spec)
        cats = "".join(f'<category term="{escape(t)}"/>' for t in item["tags"])
        content = f'<content type="html">{escape(item["html"])}</content>' if item["html"] else ""
        out.append(
            f"<entry><title>{escape(item['title'])}</title>"
            f'<link rel="alternate" href="{escape(item["link"])}"/><id>{item["guid"]}</id>'
            f"<published>{item['published'].isoformat()}</published><updated>{item['updated'].isoformat()}</updated>"
            f"<author><name>{escape(item['author'])}</name></author>{cats}"
            f'<summary type="html">{escape(item["summary"])}</summary>{content}</entry>\n'
        )
    out.append("</feed>\n")
    return "".join(out).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mutations", type=int, default=0, help="apply mutate(0.05) this many times first")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    corpus = Corpus(args.feeds, args.items, args.seed)
    for _ in range(args.mutations):
        corpus.mutate()
    args.out.mkdir(parents=True, exist_ok=True)
    for i, feed in enumerate(corpus.feeds):
        (args.out / f"{feed.name}.{feed.kind}.xml").write_bytes(corpus.body(i))
    print(f"wrote {args.feeds} feeds, {corpus.total_bytes() / 1e6:.1f} MB, to {args.out}")


if __name__ == "__main__":
    main()
