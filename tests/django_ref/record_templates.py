"""Regenerates app/sandbox/src/template/django_cases.jsonl: the template cases the sandbox's
template engine is checked against (`recorded_django_outputs_match`), rendered by real Django.

    python3 tests/django_ref/record_templates.py            (rewrites the file in place)
    python3 tests/django_ref/record_templates.py --check    (exit 1 if Django now differs)

The file's first line is the shared context; values are JSON with three string markers that
JSON cannot express: "dt:YYYY-MM-DD HH:MM[:SS]" (a naive datetime), "safe:..." (a SafeString),
"float:34.0" (a float that JSON would write as an int). Each following line is
[template, output], where an output starting with "!" is the exception Django raised:
"!ExceptionClass: message". The template list is the file's own (curated cases for every
filter and tag, random filter/tag combinations, punctuation soups); to add a case, append a
line with any output and run this script.
"""
import argparse
import copy
import datetime as dt
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CASES = HERE.parent.parent / "app" / "sandbox" / "src" / "template" / "django_cases.jsonl"


def decode(v):
    from django.utils.safestring import mark_safe

    if isinstance(v, str):
        if v.startswith("dt:"):
            text = v[3:]
            for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
                try:
                    return dt.datetime.strptime(text, fmt)
                except ValueError:
                    pass
            raise ValueError(f"bad datetime marker {v!r}")
        if v.startswith("safe:"):
            return mark_safe(v[5:])
        if v.startswith("float:"):
            return float(v[6:])
        return v
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        return {k: decode(x) for k, x in v.items()}
    return v


def render(engine, src, context):
    from django.core.cache import cache
    from django.template import Context

    cache.clear()
    try:
        return engine.from_string(src).render(Context(copy.deepcopy(context)))
    except Exception as exc:  # recorded: the sandbox must raise the same class
        return f"!{type(exc).__name__}: {exc}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare only; do not rewrite")
    args = p.parse_args(argv)

    from djref import boot

    boot.setup(":memory:")
    from django.template import engines

    engine = engines["django"].engine
    lines = CASES.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [json.loads(l) for l in lines[1:] if l.strip()]
    context = decode(json.loads(header))
    out = [header]
    changed = 0
    for template, old in rows:
        new = render(engine, template, context)
        if new != old:
            changed += 1
        out.append(json.dumps([template, new], ensure_ascii=False))
    if args.check:
        print(f"{changed} of {len(rows)} outputs differ from the file")
        return 1 if changed else 0
    CASES.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} cases to {CASES} ({changed} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
