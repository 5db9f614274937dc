"""Ids and secret tokens: the alphabet, the length, and every character equally likely."""

from collections import Counter

from app.core.ids import BASE62, new_id, random_base62


def test_ids_are_prefixed_base62_of_fixed_length():
    made = {new_id("ws") for _ in range(2000)}
    assert len(made) == 2000
    for made_id in made:
        prefix, _, body = made_id.partition("_")
        assert prefix == "ws" and len(body) == 24 and set(body) <= set(BASE62)


def test_every_character_is_about_equally_likely_in_every_position():
    samples = [random_base62(43) for _ in range(6200)]
    overall = Counter("".join(samples))
    assert set(overall) == set(BASE62)
    expected = 6200 * 43 / 62  # 4300 per character; sigma ~65
    assert all(abs(count - expected) < 8 * 65 for count in overall.values())
    for position in (0, 21, 42):  # the first, middle and last digit of the number
        column = Counter(sample[position] for sample in samples)
        assert len(column) == 62 and max(column.values()) < 3 * 6200 / 62
