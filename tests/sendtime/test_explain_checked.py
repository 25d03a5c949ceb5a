"""Explanations checked against the customer's own opens: never naming hours without opens in them."""

from app.sendtime.explain import busiest_window, checked_explanation, explain, opens_in


def _hours(pairs: dict[int, int]) -> list[int]:
    return [pairs.get(h, 0) for h in range(24)]


def test_a_peak_without_own_opens_is_replaced_by_the_hours_they_open_in():
    text = explain(best_hour=17, source="personal", human_opens=9, peak_start=23, peak_end=2)
    assert "23:00–02:00" in text
    own = _hours({19: 4, 20: 3, 21: 2})
    out = checked_explanation(text, best_hour=17, source="personal", peak_start=23, peak_end=2,
                              local_open_hours=own)
    assert "23:00" not in out and "Opens mostly 18:00–22:00 (9 of 9 human opens)" in out
    start, n = busiest_window(own)
    assert opens_in(own, start, start + 4) == n == 9


def test_a_peak_with_their_opens_is_kept_and_no_opens_names_no_hours():
    text = explain(best_hour=19, source="personal", human_opens=5, peak_start=19, peak_end=22)
    own = _hours({19: 3, 20: 1, 8: 1})
    assert checked_explanation(text, best_hour=19, source="personal", peak_start=19, peak_end=22,
                               local_open_hours=own) == text
    none = checked_explanation(text, best_hour=19, source="personal", peak_start=19, peak_end=22,
                               local_open_hours=[0] * 24)
    assert "Opens mostly" not in none and "No human opens of their own" in none
    # Segment and workspace answers name the group's hour, not the customer's: left as they are.
    seg = explain(best_hour=8, source="segment", segment_name="Commuters")
    assert checked_explanation(seg, best_hour=8, source="segment", peak_start=-1, peak_end=-1,
                               local_open_hours=[0] * 24) == seg
