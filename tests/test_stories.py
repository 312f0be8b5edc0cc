"""Near-duplicate clustering: syndicated copies join a story, separate reporting stays apart."""

from __future__ import annotations

import random

import numpy as np
import pytest

from watcher.stories.cluster import Fingerprint, StoryIndex, fingerprint, similarity

WIRE = [
    "CANBERRA, March 5 - Defence ministers from Australia, Britain and the United States "
    "agreed on Tuesday to speed up joint work on hypersonic weapons and undersea drones, "
    "saying eleven projects under the second pillar of their security pact would report "
    "results before the end of the year.",
    "The ministers met behind closed doors for most of the day at a military base outside "
    "the capital and issued a four-page statement in the evening that listed the projects "
    "and the test ranges each country would open to the others.",
    "Officials said the list included a shared facility for testing autonomous submarines "
    "off the western coast of Australia, a joint programme on electronic warfare and a new "
    "working group on quantum sensors for navigation without satellites.",
    "Japan's possible participation in individual projects was raised again, according to "
    "two people briefed on the talks, who asked not to be named because the discussions "
    "were private. No decision on new partners was announced.",
    "Export-control changes adopted by Washington last year were designed to let engineers "
    "from the three countries exchange sensitive technical data without applying for a "
    "separate licence each time, a step industry had long requested.",
    "Defence companies have nevertheless complained that the new rules are applied "
    "unevenly. Smaller suppliers say they still wait months for approvals that large "
    "contractors obtain within weeks, which slows down joint bids.",
    "The British defence secretary told reporters that the partners wanted to move from "
    "research to fielded equipment faster and that the next twelve months would show "
    "whether the arrangements were working as intended.",
    "Senior officials are due to meet again in Washington in the spring to review the "
    "projects and to prepare a leaders' statement for the summer.",
    "The statement also said the three governments would publish an annual progress "
    "report for parliaments and congressional committees, a response to criticism that "
    "too little is known about how much the programmes cost and who benefits.",
    "Australian officials said the first trials at the western range could begin within "
    "eighteen months, once environmental assessments are completed and local communities "
    "have been consulted about the use of coastal waters.",
    "In London, opposition lawmakers welcomed the focus on results but asked the government "
    "to explain how British universities would be protected from foreign interference when "
    "they take part in sensitive research funded under the pact.",
    "A spokesman for the U.S. Department of Defense said the secretary had also held "
    "separate talks with his Australian counterpart on the rotation of American forces "
    "through northern Australia, which were not part of the joint session.",
    "Markets showed little reaction. Shares in the largest defence contractors in the "
    "three countries were broadly flat in afternoon trading, while analysts said the "
    "announcements had been widely expected after weeks of preparatory meetings.",
]

NEW_LEDE = (
    "Australia, Britain and the United States will open their military test ranges to "
    "each other and fast-track eleven joint technology projects, their defence ministers "
    "said after talks near Canberra that ran late into Tuesday evening."
)

SAME_TOPIC = [
    "Analysts in Tokyo said on Wednesday that the government was weighing the costs and "
    "benefits of joining technology projects run by Australia, Britain and the United "
    "States, as ministers from the three countries held talks in Canberra.",
    "Japanese defence firms have limited experience with the export controls that govern "
    "sensitive data in the United States, and several executives said compliance would "
    "require new staff and secure facilities before any work could begin.",
    "A senior ruling party lawmaker said Japan should first focus on areas where it "
    "already has strengths, such as materials science and undersea sensors, rather than "
    "seek a role across every project at once.",
    "Opposition parties questioned whether closer cooperation would draw Japan into "
    "regional disputes, and called for a parliamentary debate before any agreement is "
    "signed. The foreign ministry declined to comment on the timing of a decision.",
    "Officials in Washington have praised Japan's technical capabilities but said that "
    "any participation would be decided project by project, with security rules for the "
    "handling of classified information agreed in advance by all partners.",
]

JA = [
    "オーストラリアとイギリス、アメリカの3か国の国防相は5日、キャンベラ近郊で会談し、"
    "極超音速兵器や無人潜水機などの共同開発を加速させることで合意しました。",
    "3か国は、安全保障の枠組みの第2の柱のもとで進める11の事業について、"
    "年内に成果を報告するとしています。",
    "会談は非公開で行われ、夕方に発表された共同声明には、各国が互いに開放する試験場や、"
    "衛星を使わずに航法を行うための量子センサーの作業部会の設置などが盛り込まれました。",
    "関係者によりますと、日本が個別の事業に参加する可能性についても議論されましたが、"
    "新たな参加国についての決定は発表されませんでした。",
    "アメリカが去年導入した輸出管理の見直しは、3か国の技術者が交流のたびに許可を"
    "申請しなくても機密性の高い技術データを共有できるようにすることが目的です。",
    "ただ防衛産業からは、運用にばらつきがあり、中小の企業は大手よりも承認に"
    "何か月も長くかかっているという不満の声が出ています。",
]

JA_SAME_TOPIC = [
    "政府内では、3か国の技術協力の事業に日本が加わることの利点と負担を慎重に見極める"
    "べきだという意見が出ています。",
    "日本の防衛関連企業は、アメリカの厳しい情報管理の規則に対応した経験が少なく、"
    "参加には新たな人員や施設の整備が必要になるという指摘があります。",
    "与党の幹部は、素材の研究や水中のセンサーなど日本が得意とする分野に絞って"
    "参加を検討すべきだと述べました。",
    "一方、野党からは、協力の強化が地域の対立に巻き込まれることにつながらないか、"
    "国会で十分に議論すべきだという声が上がっています。",
    "外務省は、決定の時期についてはコメントを控えるとしています。",
]


def text(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


@pytest.fixture
def index() -> StoryIndex:
    """An index holding the wire story (article 1, story 10) and the Japanese story (2, 20)."""
    built = StoryIndex()
    built.add(1, 10, fingerprint(text(WIRE)))
    built.add(2, 20, fingerprint(text(JA)))
    return built


def test_identical_text_joins(index: StoryIndex) -> None:
    """The same text again (a copy under another headline) joins the story."""
    assert index.find(fingerprint(text(WIRE))) == 10


def test_copy_with_new_lede_joins(index: StoryIndex) -> None:
    """Wire copy whose first paragraph was rewritten joins the first article's story."""
    copy = [NEW_LEDE, *WIRE[1:]]
    assert similarity(fingerprint(text(copy)), fingerprint(text(WIRE))).jaccard >= 0.65
    assert index.find(fingerprint(text(copy))) == 10


def test_edited_copy_joins(index: StoryIndex) -> None:
    """A copy with house-style edits (punctuation, case, dateline dropped) joins."""
    copy = [WIRE[0].replace("CANBERRA, March 5 - ", "").upper(), *WIRE[1:]]
    copy = [p.replace(",", "").replace("'", "\u2019") for p in copy]
    assert index.find(fingerprint(text(copy))) == 10


def test_truncated_copy_joins_by_containment(index: StoryIndex) -> None:
    """A copy cut after its first paragraphs fails Jaccard but joins by containment."""
    truncated = fingerprint(text(WIRE[:5]))
    found = similarity(truncated, fingerprint(text(WIRE)))
    assert found.jaccard < 0.8
    assert found.containment is not None
    assert found.containment >= 0.9
    assert index.find(truncated) == 10


def test_truncated_first_then_full_joins() -> None:
    """When the truncated copy came first, the full article later joins its story."""
    built = StoryIndex()
    built.add(5, 50, fingerprint(text(WIRE[:5])))
    assert (
        built.find(fingerprint(text([*WIRE, "Reporting by A. Writer; editing by B. Editor"]))) == 50
    )


def test_same_topic_stays_separate(index: StoryIndex) -> None:
    """Separately written articles on the same topic do not join each other's story."""
    assert index.find(fingerprint(text(SAME_TOPIC))) is None
    assert similarity(fingerprint(text(SAME_TOPIC)), fingerprint(text(WIRE))).jaccard < 0.1


def test_japanese_copy_joins_and_same_topic_stays_separate(index: StoryIndex) -> None:
    """A Japanese copy with a new lede joins; a separate article on the topic does not."""
    copy = ["3か国の国防相がキャンベラ近郊で会談し、共同開発の加速で一致しました。", *JA[1:]]
    assert index.find(fingerprint(text(copy))) == 20
    assert index.find(fingerprint(text(JA[:4]))) == 20  # truncated
    assert index.find(fingerprint(text(JA_SAME_TOPIC))) is None


def test_full_width_and_half_width_forms_fold() -> None:
    """Full-width Latin letters and half-width katakana fingerprint like their normal forms."""
    full_width = text(JA).replace("3", "\uff13")  # FULLWIDTH DIGIT THREE
    assert fingerprint(full_width) == fingerprint(text(JA))
    assert fingerprint(text(WIRE).upper()) == fingerprint(text(WIRE))


def test_japanese_uses_character_shingles() -> None:
    """Space-less text is shingled by characters, text with spaces by words."""
    assert fingerprint(text(JA)).shingle_size == 8
    assert fingerprint(text(WIRE)).shingle_size == 5


def test_short_texts_are_never_clustered(index: StoryIndex) -> None:
    """A headline-only text is neither matched nor indexed, even when it repeats an article."""
    short = fingerprint(WIRE[0][:120])
    assert not short.clusterable
    assert index.find(short) is None
    index.add(3, 30, short)
    assert 3 not in index
    assert index.find(fingerprint("")) is None


def test_best_match_wins() -> None:
    """Among confirmed candidates the most similar article's story is returned."""
    built = StoryIndex()
    built.add(1, 100, fingerprint(text(WIRE[:5])))  # contained, score 1.0 by containment
    built.add(2, 200, fingerprint(text(WIRE)))  # identical, score 1.0 as well: lower id wins
    assert built.find(fingerprint(text(WIRE))) == 100
    built.remove(1)
    assert built.find(fingerprint(text(WIRE))) == 200


def test_persistence_round_trip(index: StoryIndex) -> None:
    """Fingerprints survive bytes, and an index rebuilt from rows gives the same answers."""
    rows = [(1, 10, fingerprint(text(WIRE)).to_bytes()), (2, 20, fingerprint(text(JA)).to_bytes())]
    for _, _, data in rows:
        assert Fingerprint.from_bytes(data).to_bytes() == data
        assert len(data) < 2_600
    rebuilt = StoryIndex.from_rows(rows)
    queries = [
        fingerprint(text([NEW_LEDE, *WIRE[1:]])),
        fingerprint(text(WIRE[:5])),
        fingerprint(text(SAME_TOPIC)),
        fingerprint(text(JA[:4])),
        fingerprint(text(JA_SAME_TOPIC)),
    ]
    assert [rebuilt.find(q) for q in queries] == [index.find(q) for q in queries]
    assert [rebuilt.find(q) for q in queries] == [10, 10, None, 20, None]
    assert len(rebuilt) == 2


def test_remove_and_re_add() -> None:
    """Removed articles are forgotten, and adding an id again replaces its entry."""
    built = StoryIndex()
    wire = fingerprint(text(WIRE))
    built.add(1, 10, wire)
    built.add(2, 20, fingerprint(text(SAME_TOPIC)))
    built.add(1, 11, wire)
    assert built.find(wire) == 11
    built.remove(1)
    built.remove(99)
    assert built.find(wire) is None
    assert len(built) == 1


def test_many_articles_keep_rows_consistent() -> None:
    """Growing past the initial table and removing from the middle keeps every lookup right."""
    built = StoryIndex()
    vocabulary = text(SAME_TOPIC).split()
    for i in range(150):  # distinct texts: words of the same topic in a different order each
        words = random.Random(i).sample(vocabulary, 120)
        built.add(i, i, fingerprint(" ".join(words)))
    for i in range(0, 150, 3):
        built.remove(i)
    assert len(built) == 100
    wire = fingerprint(text(WIRE))
    built.add(1000, 77, wire)
    assert built.find(wire) == 77
    assert built.find(fingerprint(" ".join(random.Random(149).sample(vocabulary, 120)))) == 149
    assert built.find(fingerprint(" ".join(random.Random(3).sample(vocabulary, 120)))) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01" * 20, b"\x01" + b"\x00" * 600, fingerprint("x").to_bytes() + b"\x00"],
)
def test_bad_fingerprint_bytes_are_rejected(data: bytes) -> None:
    """Truncated data, another format version or a ragged sample raise ValueError."""
    with pytest.raises(ValueError, match="fingerprint"):
        Fingerprint.from_bytes(data)


def test_minhash_equals_datasketch_affine32() -> None:
    """Our NumPy MinHash equals datasketch's affine32 (seed 1), across block boundaries."""
    from datasketch import MinHash

    from watcher.stories.shingles import NUM_PERM, minhash

    rng = np.random.default_rng(11)
    for size in (0, 1, 2, 40, 255, 256, 257, 700, 3000):
        hashes = np.unique(rng.integers(0, 2**32, size, dtype=np.uint64).astype(np.uint32))
        reference = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32", hashfunc=int)
        reference.update_batch(hashes.tolist())
        assert minhash(hashes).tolist() == np.asarray(reference.hashvalues).tolist()
