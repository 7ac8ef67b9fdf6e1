"""Follow-up rewriting: short questions borrow the previous subject; full questions stay as typed."""
import pytest

from qa.app import followup


@pytest.fixture(scope="module")
def resolve(assistant):
    return lambda previous, new: followup.resolve(previous, new, assistant.index)


@pytest.fixture(scope="module")
def is_follow_up(assistant):
    return lambda question: followup.is_follow_up(question, assistant.index)


@pytest.mark.parametrize("previous, new, expected", [
    ("张家窝镇十五五期间要建新小学吗？", "那2025年呢？", "张家窝镇2025年要建新小学吗？"),
    ("静海镇2025年招商引资实际到位要多少？", "那2024年呢？", "静海镇2024年招商引资实际到位要多少？"),
    ("西青区2024年地区生产总值增长目标是多少？", "静海镇呢？", "静海镇2024年地区生产总值增长目标是多少？"),
    ("张家窝镇十五五期间要建新小学吗？", "十四五呢", "张家窝镇十四五期间要建新小学吗？"),
    ("地区生产总值增长多少？", "西青区23年的呢", "西青区2023年地区生产总值增长多少？"),
    ("西青区2024年GDP增长多少？", "那张家窝2023年呢？", "张家窝镇2023年GDP增长多少？"),
])
def test_follow_up_substitutes_place_and_time(resolve, previous, new, expected):
    assert resolve(previous, new) == expected


@pytest.mark.parametrize("new", [
    "静海镇2025年招商引资实际到位要多少？",   # a full question of its own
    "西青区呢，还有学校？",                    # brings a new subject
    "那明年呢？",                              # no place, year or period to substitute
    "",
])
def test_full_or_unresolvable_questions_are_left_alone(resolve, new):
    assert resolve("西青区2024年地区生产总值增长目标是多少？", new) == new


def test_no_previous_question_means_no_rewrite(resolve):
    assert resolve("", "那2025年呢？") == "那2025年呢？"
    assert resolve(None, "静海镇呢？") == "静海镇呢？"


def test_is_follow_up(is_follow_up):
    assert is_follow_up("那2025年呢？") and is_follow_up("静海镇呢")
    assert not is_follow_up("张家窝镇十五五期间要建新小学吗？")
