"""Every project lab of the course, through real Django 5.2 and through the sandbox.

For each lesson whose lab.json has a "project", cases are built from the lab itself: the
files as the lesson starts them, then the same files with each toggle turned on (and all of
them at once); the steps are every request the lab offers (each twice, so caching shows),
then every shell line, then the tests, then the scripted timeline (a request sent "N s into
the previous" overlaps it: Django runs the two in threads, and the seconds each took are
compared within ELAPSED_TOLERANCE_S); migration toggles (indexes) become case migrations.

Then every claim the lesson's prose makes (its toggles, edits and steps, at the default data
size) and every wrong answer an exercise lists (its code, with the exercise's steps): what the
text says the learner sees, and what a learner's mistake does, is what Django does.

Both runners get the same cases on copies of the same seeded database, and every step must
agree (test_project_differential's comparison). A lesson that teaches something Django does not
do fails here.
"""
import copy
import json
import shutil
import sys

import pytest

from differential_common import HERE, load_name_list, normalize, require_sandbox_bin, run

LESSONS = HERE.parent.parent / "lessons"
KNOWN_GAPS_FILE = HERE / "known_gaps_lessons.txt"


def apply_toggle(files, t, on=True):
    if "file" not in t:
        return
    src = files[t["file"]]
    frm, to = (t["off"], t["on"]) if on else (t["on"], t["off"])
    if frm in src and not (on and to in src):
        files[t["file"]] = src.replace(frm, to, 1)


# A lab's shell is `manage.py shell`, which in Django 5.2 imports every installed app's
# models first; the contract's `run` executes in views.py's namespace, so a lab's shell line
# becomes a `run` with those imports in front (they change no output and send no query).
SHELL_IMPORTS = (
    "from articles.models import Article, Tag\n"
    "from orgs.models import Organization, Membership\n"
    "from tasks.models import Task\n"
    "from django.contrib.auth.models import User\n"
)


def shell_run(code):
    return {"run": SHELL_IMPORTS + code}


def contract_step(step):
    """A lab.json step (the app's protocol) as a run-project contract step."""
    kind = step["step"]
    if kind == "get":
        out = {"get": step["url"]}
        if step.get("user"):
            out["user"] = step["user"]
        if step.get("worker"):
            out["worker"] = step["worker"]
        if step.get("into_previous") is not None:
            out["into_previous"] = step["into_previous"]
        return out
    if kind == "run":
        return shell_run(step["code"])
    if kind == "advance":
        return {"advance": step["seconds"]}
    if kind == "test":
        return {"test": step["file"]}
    raise ValueError(f"unknown step {kind!r}")


def timeline_step(line):
    """One line of a claim's steps (app/protocol/src/timeline.rs) as a contract step."""
    line = line.strip()
    if line.startswith(">>>"):
        return shell_run(line[3:].strip())
    if line.startswith("+"):
        return {"advance": float(line[1:].strip().rstrip("s").strip())}
    if line.lower() == "run tests":
        return {"test": "tests.py"}
    assert line.startswith("GET "), line
    rest, into = line[4:], None
    if rest.rstrip().endswith("into the previous"):
        rest, tail = rest.rsplit(",", 1)
        into = float(tail.replace("into the previous", "").strip().rstrip("s").strip())
    words = rest.split()
    out = {"get": words[0]}
    i = 1
    while i < len(words):
        if words[i] == "as":
            out["user"] = words[i + 1]
            i += 2
        elif words[i] == "on":
            out["worker"] = int(words[i + 2])
            i += 3
        else:
            raise ValueError(line)
    if into is not None:
        out["into_previous"] = into
    return out


def with_changes(project, toggles, edits, migrations_on):
    files = dict(project["files"])
    migrations = list(project.get("migrations", []))
    for t in toggles:
        if "migration" in t:
            migrations.append(t["migration"])
        else:
            apply_toggle(files, t)
    for e in edits:
        assert e["find"] in files[e["file"]], (e, "the edit does not fit the lab")
        files[e["file"]] = files[e["file"]].replace(e["find"], e["replace"], 1)
    return files, migrations + migrations_on


def claim_and_wrong_answer_cases(slug, project):
    cases = []
    toggles = project.get("toggles", [])
    for k, claim in enumerate(project.get("claims", [])):
        if claim.get("articles") or claim.get("tasks"):
            continue  # another data size: the differential database has the default one
        files, migrations = with_changes(project, [toggles[i] for i in claim.get("toggles", [])], claim.get("edits", []), [])
        cases.append({"name": f"{slug}:claim{k + 1}", "files": files, "urls": project["urls"], "migrations": migrations,
                      "steps": [timeline_step(line) for line in claim["steps"]]})
    exercises = project.get("exercises", [])
    for x, ex in enumerate(exercises):
        for w, wrong in enumerate(ex.get("wrong_answers", [])):
            if wrong.get("from_solution"):
                n = ex.get("solution_toggles", len(toggles))
            else:
                n = exercises[x - 1].get("solution_toggles", len(toggles)) if x > 0 else 0
            chosen = toggles[:n] + [toggles[i] for i in wrong.get("toggles", [])]
            files, migrations = with_changes(project, chosen, wrong.get("edits", []), [])
            steps = [contract_step(s) for s in ex["goal"]["steps"]] + [shell_run(line) for line in ex["goal"].get("observe", [])]
            cases.append({"name": f"{slug}:exercise{x + 1}:wrong{w + 1}", "files": files, "urls": project["urls"], "migrations": migrations, "steps": steps})
    return cases


def lesson_cases():
    cases = []
    for lab_file in sorted(LESSONS.glob("*/lab.json")):
        lab = json.loads(lab_file.read_text(encoding="utf-8"))
        project = lab.get("project")
        if not project:
            continue
        slug = lab_file.parent.name
        steps = []
        for url in project.get("requests", []):
            steps += [{"get": url}, {"get": url}]
        steps += [shell_run(line) for line in project.get("shell", [])]
        if any(name == "tests.py" for name, _ in project["files"]):
            steps.append({"test": "tests.py"})
        # The scripted timeline replays after the rest (the writes above already happened).
        steps += [contract_step(s) for s in project.get("timeline", [])]
        ftoggles = [t for t in project.get("toggles", []) if "file" in t]
        mtoggles = [t for t in project.get("toggles", []) if "migration" in t]
        variants = [("start", [], [])] + [(f"toggle{i}", [t], []) for i, t in enumerate(ftoggles)]
        variants += [(f"migration{i}", [], [t["migration"]]) for i, t in enumerate(mtoggles)]
        if len(ftoggles) + len(mtoggles) > 1:
            variants.append(("all_toggles", ftoggles, [t["migration"] for t in mtoggles]))
        for label, toggles, migrations in variants:
            files = dict(project["files"])
            for t in toggles:
                apply_toggle(files, t)
            cases.append({
                "name": f"{slug}:{label}",
                "files": files,
                "urls": project["urls"],
                "migrations": project.get("migrations", []) + migrations,
                "steps": steps,
            })
        cases += claim_and_wrong_answer_cases(slug, project)
    return cases


@pytest.fixture(scope="session")
def lesson_runs(seeded_db, tmp_path_factory):
    cases = lesson_cases()
    if not cases:
        pytest.fail("no lesson has a project lab")
    tmp = tmp_path_factory.mktemp("lessons")
    cases_file = tmp / "cases.json"
    cases_file.write_text(json.dumps(cases), encoding="utf-8")
    out = {}
    django = [sys.executable, HERE / "django_run_project.py"]
    for who, cmd in (("django", django), ("sandbox", [require_sandbox_bin(), "run-project"])):
        db = tmp / f"{who}.sqlite3"
        shutil.copyfile(seeded_db, db)
        out[who] = {c["name"]: c for c in run([*cmd, "--db", db, cases_file], who)}

    def django_again(name):
        """One case through Django again, on fresh data: its wall clock is the machine's."""
        one = tmp / "again.json"
        one.write_text(json.dumps([c for c in cases if c["name"] == name]), encoding="utf-8")
        db = tmp / "again.sqlite3"
        shutil.copyfile(seeded_db, db)
        return run([*django, "--db", db, one], "django")[0]

    out["django_again"] = django_again
    return out


def case_params():
    gaps = load_name_list(KNOWN_GAPS_FILE)
    return [pytest.param(c["name"], id=c["name"], marks=[pytest.mark.xfail(
        strict=True, reason="listed in known_gaps_lessons.txt; if this now passes, remove it from that list")]
        if c["name"] in gaps else []) for c in lesson_cases()]


def test_known_lesson_gaps_are_case_names():
    unknown = load_name_list(KNOWN_GAPS_FILE) - {c["name"] for c in lesson_cases()}
    assert not unknown, f"known_gaps_lessons.txt names cases that do not exist: {sorted(unknown)}"


# Seconds a step took: the sandbox's virtual clock (time.sleep, lock waits) against Django's
# wall clock, which adds thread start-up, SQLite's busy-handler back-off and the request itself.
ELAPSED_TOLERANCE_S = 0.3


def pop_elapsed(name, dj, sb):
    """Removes the "elapsed" seconds of the steps sent "into_previous" (the only ones the
    sandbox times; Django's runner times every get of such a case) and says where they differ
    by more than the tolerance (None when they agree)."""
    differs = None
    for i, (d, s) in enumerate(zip(dj.get("steps", []), sb.get("steps", []))):
        d_el = d.pop("elapsed", None)
        if "elapsed" in s:
            s_el = s.pop("elapsed")
            if differs is None and (d_el is None or abs(d_el - s_el) > ELAPSED_TOLERANCE_S):
                differs = f"{name} step {i + 1}: {s_el} s in the sandbox, {d_el} s in Django"
    return differs


@pytest.mark.parametrize("name", case_params())
def test_lesson_project_matches_django(name, lesson_runs):
    dj, sb = normalize(lesson_runs["django"][name]), normalize(lesson_runs["sandbox"].get(name))
    if sb is not None:
        sb_before = copy.deepcopy(sb)
        differs = pop_elapsed(name, dj, sb)
        # The sandbox's seconds are its virtual clock's; Django's are the wall clock of a machine
        # that may be busy (thread start-up, SQLite's busy back-off): a disagreement is asked of
        # Django twice more before it counts.
        for _ in range(2):
            if differs is None:
                break
            dj, sb = normalize(lesson_runs["django_again"](name)), copy.deepcopy(sb_before)
            differs = pop_elapsed(name, dj, sb)
        assert differs is None, differs
    assert "error" not in dj, f"the lesson's project does not load in Django: {dj['error']}"
    assert sb == dj, f"{name}: the sandbox differs from Django\n--- django\n{json.dumps(dj, indent=1)[:4000]}\n--- sandbox\n{json.dumps(sb, indent=1)[:4000]}"
