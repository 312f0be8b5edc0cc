"""Stories at the pipeline level: syndicated copies join one story; separate reports don't.

A wire story and four copies (new headline and lede, truncated, a local
paragraph added, light edits) arrive through different feeds; the outlet
difference is in the host name (`127.0.0.1` vs `localhost`) and the path,
since the story logic is about the text. All texts are written for this test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline_helpers import (
    Harness,
    Item,
    article_html,
    make_config,
    rss,
    rss_source,
    small_pool,
)
from tests.support.httpserver import LocalSite
from watcher.extract.pool import ExtractorPool
from watcher.model import SourceSpec

WIRE_TITLE = "Japan moves closer to AUKUS defence technology projects"
WIRE = [
    "Japan is moving closer to joining defence technology projects under the AUKUS "
    "partnership, officials from the four governments said on Tuesday, after a round of talks "
    "in Canberra that focused on how Japanese companies could work with allied laboratories.",
    "The projects fall under the second pillar of the pact between Australia, Britain and the "
    "United States, which covers advanced capabilities such as hypersonic weapons, autonomous "
    "undersea vehicles, quantum sensing and electronic warfare rather than submarines.",
    "A senior Australian official said the partners had agreed to identify a first set of "
    "joint projects before the end of the year, and that Japan's strengths in materials "
    "science, robotics and shipbuilding made it a natural candidate for several of them.",
    "Officials in Tokyo have said that any cooperation would depend on a new system for "
    "protecting classified information, which the government introduced last year and which "
    "requires background checks for employees of defence contractors handling secrets.",
    "Critics in Japan have warned that closer involvement could draw the country into regional "
    "tensions and have asked the government to explain how export rules would apply to "
    "technology developed jointly with the three partners.",
    "The United States has also been discussing similar arrangements with Canada, New Zealand "
    "and South Korea, although officials said talks with Japan were the most advanced and "
    "could serve as a model for other countries that want to take part.",
    "Defence ministers from the four countries are expected to meet in the coming months to "
    "review progress, and a joint statement after the Canberra talks said the partners would "
    "also look at ways to simplify the transfer of components between their industries.",
    "Japanese defence firms have spent years preparing for such work, setting up secure "
    "facilities and hiring engineers with experience of allied programmes, according to "
    "industry executives who spoke at a trade fair in Tokyo last month.",
    "Analysts said the next test would be whether the partners could agree on how to share "
    "intellectual property from joint research, an issue that has slowed earlier attempts at "
    "cooperation between Japan and its allies on fighter jets and missile defence.",
]
COPIES = {
    # A new headline and a rewritten first paragraph; the rest as sent.
    "rewritten": (
        "Tokyo edges toward role in AUKUS tech partnership",
        [
            "Japanese companies could soon work alongside allied laboratories on advanced defence "
            "projects, after talks in Canberra this week brought Japan closer to the AUKUS "
            "technology partnership, officials said.",
            *WIRE[1:],
        ],
    ),
    # Cut after four paragraphs, as many sites run wire copy.
    "truncated": ("Japan closer to AUKUS technology projects", WIRE[:4]),
    # The full text plus a local paragraph at the end.
    "local": (
        WIRE_TITLE,
        [
            *WIRE,
            "In Nagasaki, where several shipbuilders are based, the city's chamber of commerce "
            "said local firms were ready to take part if the projects go ahead.",
        ],
    ),
    # Light edits: a few words changed throughout.
    "edited": (
        "AUKUS partners and Japan near deal on technology projects",
        [p.replace(" said ", " told reporters ", 1) for p in WIRE],
    ),
}
UNRELATED = {
    "clearance": (
        "Japan prepares clearance checks ahead of AUKUS cooperation",
        "The Japanese government began training investigators this month for a clearance "
        "system that will vet engineers at defence companies. Officials expect the first checks "
        "to start in spring, and say the process matters for future AUKUS cooperation, because "
        "partner laboratories will only share designs with staff who have been vetted. Industry "
        "groups asked for clear timelines so that hiring plans are not delayed.",
    ),
    "shipyard": (
        "Shipyards see opportunity in AUKUS ties with Japan",
        "Executives at a shipyard near Kure said they hoped maintenance work for allied vessels "
        "would follow any agreement between Japan and the AUKUS members. The yard already repairs "
        "coast guard ships and has spare dry dock capacity this year. Union leaders welcomed the "
        "prospect of steady work but asked about safety training for new contracts with foreign "
        "navies and about the number of permanent jobs involved.",
    ),
    "opinion": (
        "Opinion: Japan should weigh the costs of joining AUKUS projects",
        "Joining AUKUS research would tie Japan more closely to its allies, but the benefits are "
        "less certain than supporters claim. Universities have long resisted military funding, "
        "and many scientists fear that secrecy rules will slow their work. Before signing up, "
        "ministers ought to publish a plain account of budgets, oversight and the limits on "
        "exports, so that voters can judge the bargain for themselves.",
    ),
    "quantum": (
        "Quantum sensing lab in Tsukuba eyes AUKUS partners",
        "A national laboratory in Tsukuba is in early talks with researchers in Adelaide about "
        "quantum magnetometers that can find submarines, a field named in the AUKUS plans. "
        "Scientists there said Japan has strong hardware but lacks test ranges at sea, which the "
        "Australian side could provide. Any joint work would start with unclassified papers and "
        "shared equipment before moving to sensitive trials.",
    ),
    "poll": (
        "Poll finds voters in Japan split over AUKUS role",
        "A newspaper survey published on Sunday found that forty one percent of respondents in "
        "Japan supported taking part in AUKUS technology work, while thirty eight percent were "
        "opposed and the rest undecided. Support was higher among older voters and in regions "
        "with defence industries. Pollsters noted that many people were unsure what the pact "
        "involves beyond the submarine deal announced several years ago.",
    ),
}


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _outlet(site: LocalSite, name: str, n: int, title: str, paragraphs: list[str]) -> SourceSpec:
    """One outlet: a page and its feed; every other outlet is reached as `localhost`."""
    base = site.base_url if n % 2 == 0 else site.base_url.replace("127.0.0.1", "localhost")
    site.add(f"/{name}/story.html", article_html(title, paragraphs))
    link = f"{base}/{name}/story.html"
    feed = rss([Item(title, link, guid=f"{name}-1", description=paragraphs[0][:120])])
    site.add(f"/{name}/feed.xml", feed, content_type="application/rss+xml")
    return rss_source(name, f"{base}/{name}/feed.xml")


def test_wire_copies_form_one_story_and_separate_reports_stay_apart(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool, database_url: str
) -> None:
    """Wire copies on other outlets join one story (one alert, replies); five reports stay five."""
    first = [_outlet(local_site, "wire", 0, WIRE_TITLE, WIRE)]
    first += [
        _outlet(local_site, name, n, title, [text])
        for n, (name, (title, text)) in enumerate(UNRELATED.items(), start=1)
    ]
    later = [
        _outlet(local_site, name, n, title, paras)
        for n, (name, (title, paras)) in enumerate(COPIES.items(), start=1)
    ]
    with Harness(make_config(database_url, first), extractor) as h:
        report = h.cycle()
        assert report.articles_new == 6
        assert h.story_count() == 6
        assert all(a.extraction_status == "ok" for a in h.articles())
        assert len(h.alerts()) == 6
        assert {kind for *_, kind in h.alerts()} == {"alert"}

    # A restart: the new pipeline rebuilds its story index from the database.
    with Harness(make_config(database_url, first + later), extractor) as h:
        h.cycle()
        articles = {a.url.split("/")[3]: a for a in h.articles()}
        assert set(articles) == {"wire", *UNRELATED, *COPIES}
        wire_story = articles["wire"].story_id
        for name in COPIES:
            assert articles[name].story_id == wire_story, name
        assert len({articles[name].story_id for name in UNRELATED} | {wire_story}) == 6
        assert h.story_count() == 6

        alerts = h.alerts()
        kinds = Counter((story, kind) for _, story, _, kind in alerts)
        assert kinds[(wire_story, "alert")] == 1
        assert kinds[(wire_story, "reply")] == len(COPIES)
        assert sum(n for (_, kind), n in kinds.items() if kind == "alert") == 6
        assert len(alerts) == 6 + len(COPIES)  # one row per article: a hit is never lost
