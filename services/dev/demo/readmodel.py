"""The demo's read-model stage: what the projector built for the county, per municipality.

Every child must have a named person or stand on its municipality's gaps list (children who
turned 18, died, emigrated or moved out of the county, and ids the register has not described
yet, are neither, and are counted apart); no child who died or emigrated may have either.
Only counts and pseudonym prefixes are printed: the plans' free text is personal data.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from projections.named_person import ENDED_RULES, RULE_NONE
from projections.plan import AREAS
from projections.read_model import ReadModel, actions, assessments, children, meetings, released_facts
from schemas.county import CountyDirectory
from services.dev.demo.life_events import LEFT_BUT_ASSIGNED, left_but_assigned

UNASSIGNED = "{n} children have neither a named person nor a place on a gaps list"
NOT_ASSIGNED = ENDED_RULES | {RULE_NONE}  # no named person, and rightly on no gaps list


def plans_stage(store: ReadModel, console: Console, county: CountyDirectory) -> bool:
    console.rule("Read model: named persons, gaps lists and plans")
    with store.engine.connect() as c:
        query = select(children.c.municipality_code, children.c.named_person_org, children.c.named_person_rule,
                       children.c.on_gaps_list, children.c.plan_status)
        if "merged_into" in children.c:  # an id found to be another child's: a pointer, not a child
            query = query.where(children.c.merged_into.is_(None))
        rows = c.execute(query).all()
        held = dict(c.execute(select(meetings.c.child_id, func.count()).group_by(meetings.c.child_id)).all())
        sample = c.execute(select(children.c.child_id, children.c.named_person_org, children.c.lead_org)
                           .where(children.c.plan_status == "open")
                           .order_by(children.c.child_id).limit(5)).all()
        ratings = c.execute(select(assessments.c.child_id, assessments.c.area, assessments.c.rating)).all()
        agreed = Counter(cid for (cid,) in c.execute(select(actions.c.child_id)))
        facts = Counter(cid for (cid,) in c.execute(select(released_facts.c.child_id)))
    per: dict[str, Counter[str]] = {}
    unassigned = 0
    for code, org, rule, gap, plan in rows:
        n = per.setdefault(code or "?", Counter())
        n["children"] += 1
        n["named"] += org is not None
        n["gaps"] += bool(gap)
        n["ended"] += rule in NOT_ASSIGNED
        n["plans"] += plan == "open"
        unassigned += org is None and not gap and rule not in NOT_ASSIGNED
    table = Table(title="Per municipality")
    for col in ("municipality", "children", "named person", "on gaps list", "ended / not yet known", "open plans"):
        table.add_column(col, justify="left" if col == "municipality" else "right")
    for code in sorted(per):
        n = per[code]
        # "?": no home municipality, e.g. a newly arrived pupil with a samordningsnummer the school
        # knows and the population register does not (yet)
        label = "no home municipality known" if code == "?" else \
            f"{county.municipality_name(code) or 'outside the county'} ({code})"
        table.add_row(label, f"{n['children']:,}", f"{n['named']:,}",
                      f"{n['gaps']:,}", f"{n['ended']:,}", f"{n['plans']:,}")
    console.print(table)
    by_child: dict[str, dict[str, int]] = {}
    for cid, area, rating in ratings:
        by_child.setdefault(cid, {})[area] = rating
    plans = Table(title="Some open plans (pseudonyms shortened; free text stays sealed)")
    for col in ("child", "named person", "lead", "meetings", "actions", "facts", *(a.value for a in AREAS)):
        plans.add_column(col, justify="left" if col in {"child", "named person", "lead"} else "right")
    for cid, named, lead in sample:
        wheel = by_child.get(cid, {})
        plans.add_row(cid[:8], named or "—", lead or "—", str(held.get(cid, 0)), str(agreed[cid]), str(facts[cid]),
                      *(str(wheel.get(a.value, "·")) for a in AREAS))
    console.print(plans)
    if unassigned:
        console.print(f"[red]{UNASSIGNED.format(n=unassigned)}[/red]")
    left = left_but_assigned(store.engine)
    console.print(f"Children who died or emigrated with a named person or on a gaps list: {left:,} "
                  + ("ok" if not left else f"[red]{LEFT_BUT_ASSIGNED.format(n=left)}[/red]"))
    return unassigned == 0 and left == 0 and any(n["plans"] for n in per.values())
