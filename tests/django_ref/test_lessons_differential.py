"""Every project lab of the course, through real Django 5.2 and through the sandbox.

For each lesson whose lab.json has a "project", cases are built from the lab itself: the
files as the lesson starts them, then the same files with each toggle turned on (and all of
them at once); the steps are every request the lab offers (each twice, so caching shows),
then every shell line, then the tests. Both runners get the same cases on copies of the same
seeded database, and every step must agree (test_project_differential's comparison). A lesson
that teaches something Django does not do fails here.
"""
import json
import shutil
import sys

import pytest

from differential_common import HERE, normalize, require_sandbox_bin, run

LESSONS = HERE.parent.parent / "lessons"


def apply_toggle(files, t, on=True):
    src = files[t["file"]]
    frm, to = (t["off"], t["on"]) if on else (t["on"], t["off"])
    if frm in src and not (on and to in src):
        files[t["file"]] = src.replace(frm, to, 1)


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
        steps += [{"run": line} for line in project.get("shell", [])]
        if any(name == "tests.py" for name, _ in project["files"]):
            steps.append({"test": "tests.py"})
        variants = [("start", [])] + [(f"toggle{i}", [t]) for i, t in enumerate(project.get("toggles", []))]
        if len(project.get("toggles", [])) > 1:
            variants.append(("all_toggles", project["toggles"]))
        for label, toggles in variants:
            files = dict(project["files"])
            for t in toggles:
                apply_toggle(files, t)
            cases.append({
                "name": f"{slug}:{label}",
                "files": files,
                "urls": project["urls"],
                "migrations": project.get("migrations", []),
                "steps": steps,
            })
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
    for who, cmd in (("django", [sys.executable, HERE / "django_run_project.py"]), ("sandbox", [require_sandbox_bin(), "run-project"])):
        db = tmp / f"{who}.sqlite3"
        shutil.copyfile(seeded_db, db)
        out[who] = {c["name"]: c for c in run([*cmd, "--db", db, cases_file], who)}
    return out


@pytest.mark.parametrize("name", [c["name"] for c in lesson_cases()])
def test_lesson_project_matches_django(name, lesson_runs):
    dj, sb = normalize(lesson_runs["django"][name]), normalize(lesson_runs["sandbox"].get(name))
    assert "error" not in dj, f"the lesson's project does not load in Django: {dj['error']}"
    assert sb == dj, f"{name}: the sandbox differs from Django\n--- django\n{json.dumps(dj, indent=1)[:4000]}\n--- sandbox\n{json.dumps(sb, indent=1)[:4000]}"
