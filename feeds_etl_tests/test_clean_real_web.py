"""The cleaner on shapes of real CMS output: code listings, languages, escaped summaries, widgets and headings."""

from __future__ import annotations

from feeds_etl.clean import clean_item

PROSE = "The valley council met on Tuesday to settle the water budget for the coming dry season."

# -- code ---------------------------------------------------------------------------------------------

WORDPRESS_CODE = """<p>Here is the loader:</p>
<pre class="wp-block-code"><code>def load(path):
    with open(path) as handle:
\tfor line in handle:
            yield  line.rstrip()   # keep   alignment

    return None
</code></pre>
<p>It reads lazily.</p>"""


def test_pre_text_is_kept_verbatim_line_by_line_as_its_own_block() -> None:
    cleaned = clean_item(WORDPRESS_CODE)
    assert cleaned.text == (
        "Here is the loader:\n\n"
        "def load(path):\n    with open(path) as handle:\n\tfor line in handle:\n"
        "            yield  line.rstrip()   # keep   alignment\n    return None\n\n"
        "It reads lazily."
    )


def test_gist_fallback_in_noscript_is_kept_but_a_javascript_notice_is_not() -> None:
    html = (
        f"<p>{PROSE}</p>"
        '<script src="https://gist.github.com/someone/abc123.js"></script>'
        "<noscript><pre>SELECT feed_id,\n       count(*)\nFROM items GROUP BY 1;</pre></noscript>"
        "<noscript><p>Please enable JavaScript to view the comments.</p></noscript>"
    )
    assert clean_item(html).text == f"{PROSE}\n\nSELECT feed_id,\n       count(*)\nFROM items GROUP BY 1;"


def test_a_command_line_that_is_mostly_a_link_is_kept() -> None:
    html = (
        f"<p>{PROSE}</p><p>Install it with:</p>"
        '<p><code>curl <a href="https://raw.githubusercontent.com/tool/tool/main/scripts/install.sh">'
        "https://raw.githubusercontent.com/tool/tool/main/scripts/install.sh</a> | sh</code></p>"
    )
    cleaned = clean_item(html)
    url = "https://raw.githubusercontent.com/tool/tool/main/scripts/install.sh"
    assert cleaned.text.endswith(f"Install it with:\n\ncurl {url} | sh")
    assert [link.url for link in cleaned.links] == [url]


def test_inline_code_keeps_its_spacing() -> None:
    html = "<p>Align with <code>x  =   1</code> and call <code>f( a )</code>, then  carry   on.</p>"
    assert clean_item(html).text == "Align with x  =   1 and call f( a ), then carry on."


# -- language -----------------------------------------------------------------------------------------

DUTCH_NOTE_ENGLISH_BODY = (
    "<p><em>Door Daniël van der Berg, vertaald uit het Nederlands.</em></p>"
    "<p>The harbour authority announced on Monday that the old ferry terminal will close for two years while the "
    "quays are rebuilt. Passengers will board from a temporary pier further north, and the timetable stays as it "
    "is for now.</p>"
)
ENGLISH_NOTE_GERMAN_BODY = (
    "<p>Author note: translated from German.</p>"
    "<p>Der Stadtrat hat am Montag beschlossen, die alte Fährstation für zwei Jahre zu schließen, während die "
    "Kaimauern neu gebaut werden. Die Fahrgäste steigen an einem provisorischen Anleger weiter nördlich ein.</p>"
)


def test_language_comes_from_the_body_not_a_first_line_in_another_language() -> None:
    assert clean_item(DUTCH_NOTE_ENGLISH_BODY).language == "en"
    assert clean_item(ENGLISH_NOTE_GERMAN_BODY).language == "de"


def test_language_reads_past_the_first_80_characters() -> None:
    html = (
        "<p>Kurzer Hinweis: Dieser Beitrag erschien zuerst im Blog des Autors.</p><p>"
        + "The committee approved the budget after a long debate about water rights and farming. " * 3
        + "</p>"
    )
    assert clean_item(html).language == "en"


# -- entities -----------------------------------------------------------------------------------------


def test_entities_of_an_escaped_text_summary_are_decoded_exactly_once() -> None:
    # what feedparser hands over for <description>It&amp;rsquo;s ...</description>: text with literal entities
    summary = "It&rsquo;s the council&#039;s call:&nbsp;write &amp;amp; in HTML to show an ampersand."
    assert clean_item(summary).text == "It’s the council's call: write &amp; in HTML to show an ampersand."


# -- content that belongs to the article ----------------------------------------------------------------


def test_a_heading_whose_id_contains_a_widget_word_is_kept() -> None:
    html = (
        f"<p>{PROSE}</p>"
        '<h2 id="phasing-out-social-media">Phasing out social media</h2>'
        f"<p>{PROSE}</p>"
        '<div id="related-coverage-of-the-valley"><p>The council also voted on roads and schools.</p></div>'
        '<h3 class="wp-block-heading share">Comments and replies</h3>'
        f"<p>{PROSE}</p>"
    )
    assert clean_item(html).text == "\n\n".join(
        [
            PROSE,
            "Phasing out social media",
            PROSE,
            "The council also voted on roads and schools.",
            "Comments and replies",
            PROSE,
        ]
    )


def test_widgets_known_by_a_whole_class_token_are_skipped() -> None:
    html = (
        f"<p>{PROSE}</p>"
        '<div class="post-share-buttons"><p>Share this on your favourite networks.</p></div>'
        '<section class="jp-relatedposts"><h3>Related</h3><p>Another story entirely.</p></section>'
        '<div id="comments"><p>Jo says: great post!</p></div>'
    )
    assert clean_item(html).text == PROSE


def test_a_short_link_list_the_author_introduces_is_content() -> None:
    html = (
        f"<p>{PROSE}</p><p>I'm providing the donation links:</p>"
        '<ul><li><a href="https://www.patreon.com/valleyfund">Patreon</a></li>'
        '<li><a href="https://ko-fi.com/valleyfund">Ko-fi</a></li>'
        '<li><a href="https://liberapay.com/valleyfund">Liberapay</a></li></ul>'
    )
    cleaned = clean_item(html)
    assert cleaned.text.endswith("I'm providing the donation links:\n\nPatreon\nKo-fi\nLiberapay")
    assert len(cleaned.links) == 3


def test_a_trailing_heading_with_nothing_after_it_goes() -> None:
    html = f"<p>{PROSE}</p><h3>Related posts</h3><ul><li><a href='https://x.example/a'>A</a></li></ul>"
    assert clean_item(html).text == PROSE


def test_an_item_whose_html_has_words_always_gets_text() -> None:
    one_linked_sentence = '<p><a href="https://elsewhere.example/story">Read the whole story about the dam</a></p>'
    assert clean_item(one_linked_sentence, base_url="https://blog.example/p/1").text == (
        "Read the whole story about the dam"
    )
    all_in_a_widget = '<div class="share"><p>Five words in a box.</p></div>'
    assert clean_item(all_in_a_widget).text == "Five words in a box."
