"""Regenerate the synthetic bundled samples (deterministic): python data/samples/generate.py

They cover the formats users meet: Atom 1.0, RSS 1.0 (RDF) with dc:subject, RSS 2.0 without guids, and a
windows-1251 Russian feed, with a few hundred items over several days and overlapping, messy categories.
The real WordPress sample (novastan-migrants.rss.xml) is kept as downloaded.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).parent
END = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)

PLACES = ["Kazakhstan", "Kyrgyzstan", "Tajikistan", "Turkmenistan", "Uzbekistan", "Russia", "China", "Afghanistan"]
TOPICS = ["Economy", "Energy", "Water", "Migrants", "Elections", "Culture", "Climate", "Trade", "Transport", "Education"]
# The same tag spelled the way real feeds spell it: the normaliser must merge these.
VARIANTS = {"Russia": ["Russia", " RUSSIA ", "russia", "Russia."], "Migrants": ["Migrants", "migrants", "MIGRANTS"]}
SUBJECTS = ["The government", "A regional court", "Local farmers", "A group of students", "The central bank",
            "Border officials", "A new cooperative", "City authorities", "Independent journalists", "Engineers"]  # fmt: skip
VERBS = ["announced", "criticised", "postponed", "expanded", "debated", "funded", "reviewed", "welcomed"]
OBJECTS = ["a plan to modernise irrigation canals", "new rules for seasonal workers", "a rail link to the coast",
           "a programme of rural schools", "tariffs on imported grain", "a solar park near the steppe",
           "the reconstruction of an old bazaar", "a festival of traditional music", "a scholarship scheme",
           "cross-border trade in cotton"]  # fmt: skip
DETAILS = ["Observers expect the decision to affect thousands of households.",
           "Critics say the timetable is unrealistic.", "The budget was not disclosed.",
           "Similar projects stalled in previous years.", "Residents gave the news a cautious welcome.",
           "Experts interviewed by our correspondent were divided.",
           "The announcement came after months of negotiations.", "Details will be published next month."]  # fmt: skip


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}. {rng.choice(DETAILS)}"


def article(rng: random.Random, paragraphs: int) -> list[str]:
    return [" ".join(sentence(rng) for _ in range(rng.randint(2, 4))) for _ in range(paragraphs)]


def categories(rng: random.Random) -> list[str]:
    chosen = rng.sample(PLACES, rng.randint(1, 2)) + rng.sample(TOPICS, rng.randint(1, 3))
    return [rng.choice(VARIANTS.get(c, [c])) for c in chosen]


def dates(rng: random.Random, count: int, days: int) -> list[datetime]:
    return sorted((END - timedelta(minutes=rng.randint(0, days * 24 * 60)) for _ in range(count)), reverse=True)


def atom_feed(rng: random.Random) -> str:
    entries = []
    for n, when in enumerate(dates(rng, 120, 12)):
        paras = article(rng, rng.randint(3, 6))
        title = f"{rng.choice(PLACES)}: {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        html = "".join(f"<p>{escape(p)}</p>" for p in paras)
        html += '<p>Share this: <a href="https://twitter.com/share">Twitter</a> | <a href="https://facebook.com/sharer">Facebook</a></p>'
        cats = "".join(f'<category term="{escape(c)}"/>' for c in categories(rng))
        entries.append(
            f"""  <entry>
    <title>{escape(title)}</title>
    <link rel="alternate" href="https://steppe-wire.example/news/{n:04d}"/>
    <id>tag:steppe-wire.example,2026:{n:04d}</id>
    <published>{when.isoformat()}</published>
    <updated>{(when + timedelta(hours=1)).isoformat()}</updated>
    <author><name>{rng.choice(["Aigerim S.", "Timur K.", "Dilnoza R.", "Nurlan B."])}</name></author>
    {cats}
    <summary>{escape(paras[0][:200])}</summary>
    <content type="html">{escape(html)}</content>
  </entry>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Steppe Wire</title>
  <link rel="self" href="https://steppe-wire.example/feed.atom"/>
  <id>tag:steppe-wire.example,2026:feed</id>
  <updated>{END.isoformat()}</updated>
{chr(10).join(entries)}
</feed>
"""


def rdf_feed(rng: random.Random) -> str:
    items, seq = [], []
    for n, when in enumerate(dates(rng, 80, 10)):
        url = f"https://caspian-digest.example/{when:%Y/%m/%d}/story-{n}"
        seq.append(f'<rdf:li rdf:resource="{url}"/>')
        subjects = "".join(f"<dc:subject>{escape(c)}</dc:subject>" for c in categories(rng))
        paras = article(rng, 2)
        items.append(
            f"""<item rdf:about="{url}">
  <title>{escape(rng.choice(PLACES))} digest: {escape(rng.choice(OBJECTS))}</title>
  <link>{url}</link>
  <description>{escape(" ".join(paras))}</description>
  <dc:date>{when.isoformat()}</dc:date>
  <dc:creator>Caspian Digest desk</dc:creator>
  {subjects}
</item>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://caspian-digest.example/">
  <title>Caspian Digest</title>
  <link>https://caspian-digest.example/</link>
  <description>Daily digest of the Caspian region (RSS 1.0)</description>
  <items><rdf:Seq>{"".join(seq)}</rdf:Seq></items>
</channel>
{chr(10).join(items)}
</rdf:RDF>
"""


def rss_without_guids(rng: random.Random) -> str:
    items = []
    for n, when in enumerate(dates(rng, 60, 8)):
        paras = article(rng, rng.randint(2, 4))
        html = "".join(f"<p>{escape(p)}</p>" for p in paras)
        html += '<div class="newsletter"><form><input type="email"/><button>Subscribe to our newsletter</button></form></div>'
        cats = "".join(f"<category>{escape(c)}</category>" for c in categories(rng))
        link = f"https://bazaar-notes.example/notes/{n}" if n % 5 else ""
        items.append(
            f"""<item>
  <title>Note {n}: {escape(rng.choice(OBJECTS))}</title>
  {f"<link>{link}</link>" if link else ""}
  <pubDate>{format_datetime(when)}</pubDate>
  {cats}
  <description><![CDATA[{html}]]></description>
</item>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Bazaar Notes</title><link>https://bazaar-notes.example/</link>
<description>Short notes without guids; some without links either</description>
{chr(10).join(items)}
</channel></rss>
"""


RU_SUBJECTS = ["Правительство", "Городской совет", "Местные фермеры", "Студенты", "Центральный банк"]
RU_VERBS = ["объявил", "обсудил", "отложил", "поддержал", "раскритиковал"]
RU_OBJECTS = ["план модернизации каналов", "новые правила для сезонных работников", "строительство дороги",
              "программу сельских школ", "пошлины на зерно"]  # fmt: skip
RU_TAGS = ["Россия", "РОССИЯ", "Экономика", "Мигранты", "Казахстан", "Russia", "Энергетика"]


def windows1251_feed(rng: random.Random) -> bytes:
    items = []
    for n, when in enumerate(dates(rng, 60, 9)):
        text = " ".join(
            f"{rng.choice(RU_SUBJECTS)} {rng.choice(RU_VERBS)} {rng.choice(RU_OBJECTS)}." for _ in range(6)
        )
        cats = "".join(f"<category>{c}</category>" for c in rng.sample(RU_TAGS, 2))
        items.append(
            f"""<item>
  <title>Новости региона №{n}: {rng.choice(RU_OBJECTS)}</title>
  <link>https://sibir-news.example/{n}</link>
  <guid isPermaLink="false">sibir-{n}</guid>
  <pubDate>{format_datetime(when)}</pubDate>
  {cats}
  <description><![CDATA[<p>{text}</p><p>Подробности позже.</p>]]></description>
</item>"""
        )
    xml = f"""<?xml version="1.0" encoding="windows-1251"?>
<rss version="2.0"><channel>
<title>Сибирские новости</title><link>https://sibir-news.example/</link>
<description>Лента в кодировке windows-1251</description><language>ru</language>
{chr(10).join(items)}
</channel></rss>
"""
    return xml.encode("windows-1251")


def main() -> None:
    rng = random.Random(20261124)
    (HERE / "steppe-wire.atom.xml").write_text(atom_feed(rng), encoding="utf-8")
    (HERE / "caspian-digest.rdf").write_text(rdf_feed(rng), encoding="utf-8")
    (HERE / "bazaar-notes.rss.xml").write_text(rss_without_guids(rng), encoding="utf-8")
    (HERE / "sibir-news.cp1251.rss.xml").write_bytes(windows1251_feed(rng))


if __name__ == "__main__":
    main()
