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
