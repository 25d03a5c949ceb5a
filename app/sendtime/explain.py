"""One sentence a marketer understands, for one customer's send-time answer."""

from __future__ import annotations

from app.sendtime.profiles import PEAK_LEAD, SOURCE_NAMES, Profiles


def _hh(hour: int) -> str:
    return f"{int(hour) % 24:02d}:00"


def explain(
    *, best_hour: int, source: int | str, human_opens: int = 0, peak_start: int = -1, peak_end: int = -1,
    offset_source: int = 2, segment_name: str | None = None, has_history: bool = True,
) -> str:
    """Say why this customer gets this hour, from the stored profile fields."""
    name = SOURCE_NAMES[source] if isinstance(source, int) else source
    tz = " (time zone inferred from their activity)" if offset_source == 1 else ""
    if offset_source == 0 and name != "default":
        tz = " (time zone unknown: workspace default)"
    if name == "personal":
        opens = f"{human_opens} human open{'s' if human_opens != 1 else ''} in 90 days"
        if peak_start >= 0:
            # The peak is the model's own rhythm for this customer (adjusted for when emails
            # arrived), so the best hour lands in it or just before it, as reading begins.
            ahead = (peak_start - best_hour) % 24
            width = (peak_end - peak_start) % 24 or 24
            if (best_hour - peak_start) % 24 < width:
                why = f"best hour {_hh(best_hour)}"
            elif ahead <= PEAK_LEAD:
                why = f"best hour {_hh(best_hour)}, as they start reading"
            else:
                why = f"yet an email sent at {_hh(best_hour)} is likelier to be read within a day"
            return f"Opens mostly {_hh(peak_start)}–{_hh(peak_end)} ({opens}); {why}{tz}."
        return f"Little history ({opens}): {_hh(best_hour)} blends it with similar customers{tz}."
    lead = "New customer" if not has_history else "No human opens yet"
    if name == "segment":
        who = f"the {segment_name} segment's" if segment_name else "their segment's"
        return f"{lead}: using {who} best hour ({_hh(best_hour)}){tz}."
    if name == "global":
        return f"{lead}: using the workspace's best hour ({_hh(best_hour)}){tz}."
    return f"No engagement data yet: using the default hour ({_hh(best_hour)})."


def explain_row(profiles: Profiles, i: int, segment_name: str | None = None, has_history: bool = True) -> str:
    """explain() for row i of a Profiles."""
    return explain(
        best_hour=int(profiles.best_hour[i]), source=int(profiles.source[i]),
        human_opens=int(profiles.human_opens[i]), peak_start=int(profiles.peak_start[i]),
        peak_end=int(profiles.peak_end[i]), offset_source=int(profiles.offset_source[i]),
        segment_name=segment_name, has_history=has_history,
    )


OBSERVED_WINDOW = 4  # hours in the window of a customer's own opens that an explanation may name


def busiest_window(open_hours: list[int], width: int = OBSERVED_WINDOW) -> tuple[int, int]:
    """(start hour, opens) of the `width`-hour circular window holding most of these opens (local hours)."""
    counts = [int(c) for c in open_hours[:24]] + [0] * max(0, 24 - len(open_hours))
    best_start, best = 0, -1
    for start in range(24):
        total = sum(counts[(start + k) % 24] for k in range(width))
        if total > best:
            best_start, best = start, total
    return best_start, best


def opens_in(open_hours: list[int], start: int, end: int) -> int:
    """Opens in local hours [start, end) (circular; end == start is the whole day)."""
    width = (end - start) % 24 or 24
    return sum(int(open_hours[(start + k) % 24]) for k in range(width))


def checked_explanation(text: str, *, best_hour: int, source: int | str, peak_start: int, peak_end: int,
                        local_open_hours: list[int] | None) -> str:
    """The explanation, checked against the customer's own human opens by local hour.

    A personal explanation names the hours the customer opens in; if none of their own opens fall in
    the model's peak, the sentence names the window where their opens are instead, and with no opens
    of their own it names no hours at all."""
    name = SOURCE_NAMES[source] if isinstance(source, int) else source
    if name != "personal" or local_open_hours is None or peak_start < 0:
        return text
    total = sum(int(c) for c in local_open_hours[:24])
    if total == 0:
        return f"No human opens of their own on record yet: {_hh(best_hour)} comes from the model's estimate."
    in_peak = opens_in(local_open_hours, peak_start, peak_end)
    if in_peak * 3 >= total:  # the named hours hold at least a third of their opens
        return text
    start, n = busiest_window(local_open_hours)
    return (f"Opens mostly {_hh(start)}–{_hh(start + OBSERVED_WINDOW)} ({n} of {total} human opens); "
            f"best hour {_hh(best_hour)}, where an email is likeliest to be read within a day.")
