"""A small judged set for search quality: hand-written items (long articles and short distractors sharing their
words) and queries with the items a reader would want first. benchmarks/search_quality.py reports its MRR."""

from __future__ import annotations

# (item_id, title, text)
DOCS: list[tuple[str, str, str]] = [
    ("mlkem", "ML-KEM lands in the TLS stack",
     "Post-quantum cryptography moved from papers to production this year. ML-KEM, the key encapsulation "
     "mechanism standardised by NIST, now ships in the TLS library as a hybrid with X25519. The post-quantum "
     "key exchange adds about a kilobyte to the handshake. We explain how the lattice-based scheme works, why "
     "hybrids guard against a broken new algorithm, and what servers must change to offer the post-quantum "
     "groups. Cryptography libraries will make it the default next year."),
    ("quantum-short", "Quantum weirdness", "A post about quantum mechanics and cats."),
    ("quantum-physics", "Entanglement explained for beginners",
     "Quantum mechanics describes particles that stay correlated over large distances. This post walks through "
     "the classic experiments on entanglement, the Bell inequalities and what they rule out, with drawings."),
    ("crypto-coins", "Crypto prices fall again",
     "Crypto markets lost a tenth of their value this week as traders sold coins after the exchange failure. "
     "Post after post on forums asked whether the cryptography behind the coins was at fault; it was not."),
    ("react-state", "State management in React without a library",
     "Most React apps need less state management than they think. Keep state close to where it is used, lift "
     "it up when two components share it, and reach for context for the few values many components read. "
     "We compare useState, useReducer and context against Redux and Zustand, and show when a state "
     "management library earns its place in a React codebase."),
    ("react-hooks", "Ten React hooks we use every day",
     "A tour of the hooks in our React codebase: useEffect for subscriptions, useMemo for expensive lists, "
     "and custom hooks for forms. State is mentioned only in passing."),
    ("state-budget", "State budget management under pressure",
     "The state government's budget management office warned of a shortfall as tax revenue fell."),
    ("react-tiny", "React", "React state."),
    ("react-survey", "State of React", "The state of React survey is open: tell us about management of your apps."),
    ("state-of-js", "The state of JavaScript", "State management, React and more in this year's survey results."),
    ("quantum-link", "Link: post-quantum", "Post: quantum computers, explained in one picture."),
    ("parquet-floor", "Parquet flooring with DuckDB pattern", "Reading about parquet floors; a duck pattern."),
    ("duckdb-parquet", "Reading Parquet files with DuckDB",
     "DuckDB reads Parquet files directly: point a query at the file and it scans only the columns and row "
     "groups it needs. We benchmark reading Parquet from S3, compare it with loading into a table first, and "
     "show how partitioned Parquet datasets are pruned by the query's filters."),
    ("duckdb-intro", "Why we moved analytics to DuckDB",
     "DuckDB runs inside our Python process, so analytics queries need no server. This post covers the "
     "migration from a hosted warehouse and what we gained."),
    ("parquet-format", "Inside the Parquet format",
     "Parquet stores data by column, with row groups, pages and dictionary encoding. Knowing the layout "
     "helps choose row group sizes for the files your readers scan."),
    ("rust-async", "Async Rust in practice",
     "Async Rust lets one thread juggle thousands of connections. We explain futures, the Tokio runtime, and "
     "how to avoid blocking the executor with CPU-heavy work in async functions."),
    ("rust-short", "Rust", "Rust on an old bicycle chain, and how to remove it with vinegar."),
    ("kubernetes-autoscaling", "Autoscaling on Kubernetes, done right",
     "Kubernetes can add pods when load grows. The horizontal pod autoscaler reads CPU or custom metrics; "
     "the cluster autoscaler adds nodes when pods cannot be scheduled. We tune both for a bursty API."),
    ("sourdough", "A sourdough starter from scratch",
     "Flour and water, fed daily for a week, become a sourdough starter. Keep it warm, discard half before "
     "each feeding, and bake when it doubles within six hours. Our first sourdough loaf was dense; the "
     "second rose well after a longer proof."),
    ("bread-short", "Bread", "Sourdough bread photo of the day."),
    ("climate-glaciers", "Glaciers in Central Asia are shrinking faster",
     "Glaciers of the Tien Shan lost a fifth of their mass since 1960, a new survey finds. Meltwater feeds "
     "the rivers that irrigate farms downstream, so climate change threatens water supplies in the valleys."),
    ("climate-policy", "Climate policy after the summit",
     "Governments promised new climate targets; observers doubt the money for adaptation will follow."),
    ("water-budget", "The valley water budget",
     "The council set the water budget for farms in the valley, sharing the river between villages."),
    ("open-source-funding", "Who pays for open source?",
     "Open source maintainers fund their work with donations, grants and sponsorships, but most projects get "
     "nothing. We look at foundations, GitHub Sponsors and companies paying maintainers directly."),
    ("open-kitchen", "An open kitchen in the old town",
     "The restaurant's open kitchen is the source of its charm: diners watch the cooks at work."),
    ("sqlite-wal", "SQLite in WAL mode",
     "Write-ahead logging lets readers and a writer work at once in SQLite. Checkpoints move the WAL back into "
     "the database file; long readers can keep the WAL growing."),
    ("postgres-vacuum", "Understanding PostgreSQL vacuum",
     "Vacuum reclaims space from dead rows in PostgreSQL and keeps the visibility map current. Autovacuum "
     "thresholds decide when it runs; bloated tables need them tuned."),
    ("http3", "HTTP/3 and QUIC explained",
     "HTTP/3 runs over QUIC, a transport on UDP with TLS built in. Connection setup takes one round trip and "
     "lost packets no longer stall every stream."),
    ("tls-basics", "TLS handshakes for web developers",
     "A TLS handshake agrees on keys before any HTTP is sent. Certificates prove the server's identity."),
    ("garden-tomatoes", "Growing tomatoes on a balcony",
     "Tomatoes need sun, deep pots and regular water. Pinch out side shoots and feed weekly once fruit sets."),
    ("election-turnout", "Turnout in the regional election",
     "Turnout in the regional election reached 61 percent, the highest since 2004, as younger voters came "
     "out for the new party."),
    ("election-short", "Election", "Election day photos."),
    ("machine-learning-fraud", "Catching card fraud with machine learning",
     "Gradient boosted trees flag card fraud from transaction features in milliseconds. We describe the "
     "features, the class imbalance, and how machine learning models are monitored for drift."),
    ("learning-piano", "Learning piano as an adult",
     "Learning piano after forty is slow but rewarding; a machine metronome helps keep time."),
    ("electric-buses", "Electric buses arrive in Almaty",
     "Almaty bought 200 electric buses to replace diesel ones on the busiest routes; charging depots open "
     "next spring. Air quality in the city is expected to improve over the winter smog season."),
    ("almaty-smog", "Winter smog returns to Almaty",
     "Smog settles over Almaty every winter as coal heating peaks. Doctors advise masks on the worst days."),
]  # fmt: skip

# (query, relevant item_ids): the first relevant item's rank gives the query's reciprocal rank.
QUERIES: list[tuple[str, set[str]]] = [
    ("post-quantum cryptography", {"mlkem"}),
    ("React state management", {"react-state"}),
    ("reading parquet with duckdb", {"duckdb-parquet"}),
    ("duckdb", {"duckdb-intro", "duckdb-parquet"}),
    ("async rust", {"rust-async"}),
    ("kubernetes autoscaler", {"kubernetes-autoscaling"}),
    ("sourdough starter", {"sourdough"}),
    ("glaciers climate change", {"climate-glaciers"}),
    ("open source maintainers funding", {"open-source-funding"}),
    ('"open source"', {"open-source-funding"}),
    ("sqlite wal", {"sqlite-wal"}),
    ("postgres vacuum bloat", {"postgres-vacuum"}),
    ("http3 quic", {"http3"}),
    ("tls handshake", {"tls-basics", "mlkem"}),
    ("tomatoes balcony", {"garden-tomatoes"}),
    ("election turnout", {"election-turnout"}),
    ("machine learning fraud detection", {"machine-learning-fraud"}),
    ('"machine learning"', {"machine-learning-fraud"}),
    ("electric buses almaty", {"electric-buses"}),
    ("almaty smog", {"almaty-smog"}),
    ("quantum entanglement", {"quantum-physics"}),
    ("react hooks", {"react-hooks"}),
    ("parquet row groups", {"parquet-format"}),
    ("water budget valley", {"water-budget"}),
    ("key exchange lattice", {"mlkem"}),
]

# Real articles run to hundreds of words and real indexes hold thousands of unrelated items: the judged
# articles get neutral paragraphs around their topic, and background items set realistic document frequencies.
_NEUTRAL = (
    "The team met again on Thursday morning to go over the plan for the coming weeks.",
    "Several readers wrote in after the last issue, and we answer the most common questions below.",
    "Prices rose slightly over the summer, though most shops kept their opening hours unchanged.",
    "A colleague pointed out that the numbers look different once holidays are taken into account.",
    "The museum reopens in spring after a long renovation of its roof and the main hall.",
    "Trains between the two cities will run every hour from next month, the operator said.",
    "We thank everyone who sent photos, notes and corrections; they made this piece better.",
    "The old bridge in the town centre is closed to cars while engineers inspect its pillars.",
    "Local farmers expect a good harvest of apples and pears if the weather holds until October.",
    "The library added evening hours on Tuesdays, and the children's corner now has more seats.",
    "Our next article continues the series, so stay tuned for the second part in a few days.",
    "The festival drew larger crowds than last year, with music on three stages until midnight.",
)


def _padded(text: str, sentences: int, offset: int) -> str:
    neutral = [_NEUTRAL[(offset + n) % len(_NEUTRAL)] for n in range(sentences)]
    half = sentences // 2
    return " ".join([*neutral[:half], text, *neutral[half:]])


_ARTICLES = {item_id for item_id, title, text in DOCS if len(text.split()) > 20}
DOCS = [
    (item_id, title, _padded(text, 80, index) if item_id in _ARTICLES else text)
    for index, (item_id, title, text) in enumerate(DOCS)
] + [(f"background-{n}", f"Notes from the town, part {n}", _padded("", 24, n)) for n in range(60)]
