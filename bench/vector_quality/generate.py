"""Generate the labelled retrieval set of ``bench/vector_recall.py``: ``dataset.json`` beside this file.

    .venv/bin/python bench/vector_quality/generate.py      # deterministic (seeded): rewrites dataset.json

1,000 assets: every combination of 20 subjects x 10 actions x 5 deadlines ("The espresso machine must be
replaced before Friday."), each padded with two filler sentences from a shared pool so the assets are not
bare templates. Each facet has *document* wordings and *query* wordings that share no word, e.g.
subject "espresso machine" / "barista appliance", deadline "before Friday" / "ahead of the weekend".

Queries pick an asset at random and describe it with query wordings only, in varying sentence shapes. A
query is relevant to exactly one asset: the one with its subject, action and deadline (the 49 assets with
the same subject and another action or deadline are the hard negatives). Two sets:

- ``paraphrased`` (250 queries): no content word of the query occurs in its target asset (checked here:
  a generated query that would share one is drawn again) — keyword search cannot find them by design,
  which is the point the benchmark makes; nothing else is made easy for semantic search.
- ``literal`` (100 queries): the target's own document wordings, the case keyword search is built for,
  so the two searches are also compared where keywords should win.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
STOPWORDS = {"the", "and", "for", "with", "that", "this", "what", "which", "about", "has", "have", "our", "its",
             "from", "into", "any", "are", "was", "who", "how", "when", "there", "must", "will", "needs", "need",
             "gets", "get", "being", "one", "new", "other", "note", "notes", "anything", "something"}

# (document wordings, query wordings): no word in common within a row.
SUBJECTS = [
    (["office printer", "laser printer"], ["document copier", "paper output device"]),
    (["company car", "fleet vehicle"], ["firm's automobile", "shared auto"]),
    (["public website", "homepage"], ["internet site", "web portal"]),
    (["staff kitchen", "break room"], ["pantry", "cafeteria area"]),
    (["database server", "production database"], ["SQL host", "records machine"]),
    (["developer laptops", "work notebooks"], ["portable computers", "engineers' computers"]),
    (["rooftop garden", "terrace plants"], ["green roof", "balcony flowers"]),
    (["payroll run", "salary payments"], ["staff wages", "monthly earnings"]),
    (["customer newsletter", "email bulletin"], ["mailing to clients", "subscriber digest"]),
    (["warehouse shelves", "storage racks"], ["depot shelving", "stockroom"]),
    (["espresso machine", "coffee maker"], ["barista appliance", "brewing unit"]),
    (["network firewall", "perimeter firewall"], ["packet filter", "intrusion barrier"]),
    (["supplier contract", "vendor agreement"], ["purchasing deal", "procurement terms"]),
    (["elevator", "lift"], ["vertical transport", "passenger hoist"]),
    (["advertising budget", "marketing spend"], ["promotion funds", "campaign money"]),
    (["new hire onboarding", "induction programme"], ["welcoming recruits", "orientation week"]),
    (["nightly backups", "snapshot archive"], ["disaster recovery copies", "saved replicas"]),
    (["central heating", "boiler"], ["radiators", "furnace warmth"]),
    (["unpaid invoices", "outstanding bills"], ["overdue receivables", "money clients owe"]),
    (["meeting room", "boardroom"], ["conference space", "gathering hall"]),
]
ACTIONS = [
    (["needs repair", "is broken and must be fixed"], ["requires mending", "has a fault to sort out"]),
    (["must be replaced", "will be swapped for a fresh one"], ["gets substituted", "is due for renewal"]),
    (["needs an inspection", "must be audited"], ["requires checking over", "gets reviewed"]),
    (["must be cleaned", "needs a deep clean"], ["requires scrubbing", "should be tidied"]),
    (["needs an upgrade", "will be modernised"], ["gets improved", "receives a newer version"]),
    (["needs budget approval", "awaits sign-off on costs"], ["requires spending authorisation",
                                                              "waits for financial permission"]),
    (["will be relocated", "moves to the other building"], ["changes location", "transfers elsewhere"]),
    (["is cancelled", "will be discontinued"], ["gets scrapped", "is being stopped"]),
    (["must be locked down", "needs stricter access control"], ["requires protection from intruders",
                                                                 "should be secured"]),
    (["will be expanded", "gets extra capacity"], ["grows larger", "is being scaled up"]),
]
DEADLINES = [
    (["before Friday", "by Friday evening"], ["ahead of the weekend", "prior to Saturday"]),
    (["next month", "in the coming month"], ["within four weeks", "after this period ends"]),
    (["at quarter end", "when the quarter closes"], ["as the three-month period finishes", "by Q3 close"]),
    (["tomorrow morning", "first thing tomorrow"], ["early the following day", "at dawn after today"]),
    (["during the summer holidays", "over the summer break"], ["in the warm-season vacation", "in July or August"]),
]
FILLERS = [
    "Please keep the team informed.", "Ask facilities if anything is unclear.", "Owner: operations desk.",
    "Logged after the weekly sync.", "Priority is medium.", "See the shared tracker for history.",
    "Someone from the support rota will follow up.", "This was raised twice already.",
    "Costs go to the general ledger.", "Leave comments below.", "Status: open.", "Reviewed by the office lead.",
]
QUERY_SHAPES = [
    "{subject} {action} {deadline}",
    "which {subject} {action} {deadline}?",
    "find the item saying the {subject} {action} {deadline}",
    "{deadline}, the {subject} {action}",
    "is there anything about the {subject}: it {action} {deadline}",
]
TITLE_SHAPES = ["{Subject}: {action}", "{Subject} {deadline}", "About the {subject}"]


def words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z0-9']+", text.lower()) if len(word) > 2 and word not in STOPWORDS}


def check_rows() -> None:
    for name, rows in (("subject", SUBJECTS), ("action", ACTIONS), ("deadline", DEADLINES)):
        for documents, queries in rows:
            shared = words(" ".join(documents)) & words(" ".join(queries))
            assert not shared, f"{name} {documents}: document and query wordings share {shared}"


def generate(seed: int = 20261206) -> dict[str, object]:
    check_rows()
    rng = random.Random(seed)
    assets = []
    for number, (s, a, d) in enumerate(itertools.product(range(len(SUBJECTS)), range(len(ACTIONS)),
                                                         range(len(DEADLINES)))):
        subject, action, deadline = (rng.choice(SUBJECTS[s][0]), rng.choice(ACTIONS[a][0]),
                                     rng.choice(DEADLINES[d][0]))
        title = rng.choice(TITLE_SHAPES).format(Subject=subject[0].upper() + subject[1:], subject=subject,
                                                action=action, deadline=deadline)
        content = f"The {subject} {action} {deadline}. " + " ".join(rng.sample(FILLERS, 2))
        assets.append({"key": f"a{number:04d}", "facets": [s, a, d], "title": title, "content": content})

    def queries(count: int, literal: bool) -> list[dict[str, str]]:
        chosen, made = set(), []
        while len(made) < count:
            asset = rng.choice(assets)
            if asset["key"] in chosen:
                continue
            s, a, d = asset["facets"]
            pick = 0 if literal else 1
            text = rng.choice(QUERY_SHAPES).format(subject=rng.choice(SUBJECTS[s][pick]),
                                                   action=rng.choice(ACTIONS[a][pick]),
                                                   deadline=rng.choice(DEADLINES[d][pick]))
            if not literal and words(text) & words(f"{asset['title']} {asset['content']}"):
                continue  # would give the answer away: draw again
            chosen.add(asset["key"])
            made.append({"query": text, "relevant": asset["key"]})
        return made

    return {
        "description": "Generated by bench/vector_quality/generate.py; see its docstring.",
        "assets": assets,
        "queries": {"paraphrased": queries(250, literal=False), "literal": queries(100, literal=True)},
    }


def main() -> None:
    dataset = generate()
    (HERE / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n")
    print(f"{len(dataset['assets'])} assets, "  # type: ignore[arg-type]
          f"{sum(len(q) for q in dataset['queries'].values())} queries -> {HERE / 'dataset.json'}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
