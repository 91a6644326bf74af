"""Seeded generator of random, valid Django cases in the `run-cases` format
(shared/sample_app/README.md) over the sample models, for differential fuzzing.

    python3 generate.py --seed 7 --cases 20            # prints the cases as JSON
    python3 generate.py --seed 7 --cases 20 --out x.json

Each case is built as a small tree (a Python expression AST per context variable and a
template tree), so shrink.py can take it apart; `to_json(case)` gives the contract's
{"name", "context", "template"}. What the cases stress is what a Django performance course
teaches: lookups across forward/reverse FK, M2M and nullable FK, Q objects, exclude,
chained filters on multi-valued relations, annotate/aggregate (Count with filter= and
distinct=), values/values_list, ordering, distinct, slicing, select_related,
prefetch_related (nested, Prefetch(queryset=, to_attr=)), Exists(OuterRef()),
count/exists/first/last/get/in_bulk, Paginator, and templates that touch all of it.

Determinism rule: every row order that reaches the output is a total order (order_by ends
with the primary key, or the model's Meta ordering on a unique column is used; prefetched
or related collections of unordered models are printed through |dictsort:"id" or |length),
so a different row order is a real difference, not an artefact of the engine.

The data the values are drawn from is seed.py's (ids, usernames, titles, dates), so most
filters match some rows.
"""
import argparse
import json
import random
import sys
from collections import Counter

# ---------------------------------------------------------------- expression AST
# Nodes are tuples, so shrink.py can rebuild modified copies cheaply:
#   ("name", "Article") ("attr", obj, "objects") ("call", func, (args...), ((k, v)...))
#   ("const", value) ("slice", obj, start, stop) ("index", obj, k) ("op", "&"|"|", l, r) ("inv", x)


def Name(n):
    return ("name", n)


def Attr(o, n):
    return ("attr", o, n)


def Call(f, *args, **kwargs):
    return ("call", f, tuple(args), tuple(kwargs.items()))


def CallKw(f, args, kwargs):
    """kwargs as a list of (key, node) pairs: lookup keys are not Python identifiers-safe
    for **kwargs order, and the order is kept."""
    return ("call", f, tuple(args), tuple(kwargs))


def Const(v):
    return ("const", v)


def Method(obj, name, *args, **kwargs):
    return Call(Attr(obj, name), *args, **kwargs)


def MethodKw(obj, name, args, kwargs):
    return CallKw(Attr(obj, name), args, kwargs)


def lit(v):
    return v if isinstance(v, tuple) and v and isinstance(v[0], str) and v[0] in NODE_KINDS else Const(v)


NODE_KINDS = {"name", "attr", "call", "const", "slice", "index", "op", "inv"}


def render_const(v):
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, list):
        return "[" + ", ".join(render_const(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(render_const(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def render(node):
    kind = node[0]
    if kind == "name":
        return node[1]
    if kind == "attr":
        return f"{render(node[1])}.{node[2]}"
    if kind == "call":
        parts = [render(a) for a in node[2]] + [f"{k}={render(v)}" for k, v in node[3]]
        return f"{render(node[1])}({', '.join(parts)})"
    if kind == "const":
        return render_const(node[1])
    if kind == "slice":
        a = "" if node[2] is None else str(node[2])
        b = "" if node[3] is None else str(node[3])
        return f"{render(node[1])}[{a}:{b}]"
    if kind == "index":
        return f"{render(node[1])}[{node[2]}]"
    if kind == "op":
        return f"({render(node[2])} {node[1]} {render(node[3])})"
    if kind == "inv":
        return f"~{render(node[1])}"
    raise ValueError(node)


# ---------------------------------------------------------------- template tree
#   ("text", s)
#   ("var", expr, ((filter, arg_or_None), ...))          arg is template source: "'Y-m-d'", "5"
#   ("for", target, iterable_src, body, empty_or_None)  iterable_src may carry filters
#   ("if", cond_src, body, else_or_None)
#   ("with", assign_src, body)


def T_text(s):
    return ("text", s)


def T_var(expr, *filters):
    return ("var", expr, tuple(filters))


def T_for(target, iterable, body, empty=None):
    return ("for", target, iterable, tuple(body), None if empty is None else tuple(empty))


def T_if(cond, body, orelse=None):
    return ("if", cond, tuple(body), None if orelse is None else tuple(orelse))


def T_with(assign, body):
    return ("with", assign, tuple(body))


def render_tpl(nodes):
    out = []
    for n in nodes:
        k = n[0]
        if k == "text":
            out.append(n[1])
        elif k == "var":
            f = "".join(f"|{name}" + ("" if arg is None else f":{arg}") for name, arg in n[2])
            out.append("{{ " + n[1] + f + " }}")
        elif k == "for":
            out.append("{% for " + n[1] + " in " + n[2] + " %}" + render_tpl(n[3]))
            if n[4] is not None:
                out.append("{% empty %}" + render_tpl(n[4]))
            out.append("{% endfor %}")
        elif k == "if":
            out.append("{% if " + n[1] + " %}" + render_tpl(n[2]))
            if n[3] is not None:
                out.append("{% else %}" + render_tpl(n[3]))
            out.append("{% endif %}")
        elif k == "with":
            out.append("{% with " + n[1] + " %}" + render_tpl(n[2]) + "{% endwith %}")
        else:
            raise ValueError(n)
    return "".join(out)


def to_json(case):
    """The run-cases form of a generated case."""
    return {"name": case["name"],
            "context": {var: render(node) for var, node in case["context"]},
            "template": render_tpl(case["template"])}


def case_text(case_json):
    """One string per case that known_gaps.txt regexes are matched against:
    `var = expr` lines, then `template: …`."""
    lines = [f"{k} = {v}" for k, v in case_json["context"].items()]
    lines.append("template: " + case_json["template"])
    return "\n".join(lines)


# ---------------------------------------------------------------- the sample models

FIRST_NAMES = ["Ada", "Grace", "Linus", "Guido", "Barbara", "Ken", "Margaret", "Dennis"]
LAST_NAMES = ["Lovelace", "Hopper", "Torvalds", "van Rossum", "Liskov", "Thompson", "Hamilton", "Ritchie"]

# field -> type: id | int | str | choice | bool | dt | dtnull
MODELS = {
    "User": {
        "fields": {"id": "id", "username": "str", "first_name": "str", "last_name": "str", "email": "str",
                   "is_staff": "bool", "is_active": "bool", "last_login": "dtnull", "date_joined": "dt"},
        "rels": {"articles": ("rev_fk", "Article", "author"), "memberships": ("rev_fk", "Membership", "user"),
                 "assigned_tasks": ("rev_fk", "Task", "assigned_to"), "created_tasks": ("rev_fk", "Task", "created_by"),
                 "updated_tasks": ("rev_fk", "Task", "updated_by")},
        "ordered": False, "n": 40, "unique_str": ["username"],
    },
    "Tag": {
        "fields": {"id": "id", "name": "str", "slug": "str"},
        "rels": {"articles": ("rev_m2m", "Article", "tags")},
        "ordered": False, "n": 15, "unique_str": ["name", "slug"],
    },
    "Article": {
        "fields": {"id": "id", "title": "str", "slug": "str", "body": "str", "status": "choice", "created_at": "dt"},
        "rels": {"author": ("fk", "User", "articles"), "tags": ("m2m", "Tag", "articles")},
        "ordered": True, "n": 60, "unique_str": ["slug"],
    },
    "Organization": {
        "fields": {"id": "id", "name": "str", "slug": "str"},
        "rels": {"memberships": ("rev_fk", "Membership", "organization"), "tasks": ("rev_fk", "Task", "organization")},
        "ordered": False, "n": 4, "unique_str": ["slug"],
    },
    "Membership": {
        "fields": {"id": "id", "role": "choice"},
        "rels": {"organization": ("fk", "Organization", "memberships"), "user": ("fk", "User", "memberships")},
        "ordered": False, "n": 53, "unique_str": [],
    },
    "Task": {
        "fields": {"id": "id", "title": "str", "status": "choice", "created_at": "dt"},
        "rels": {"organization": ("fk", "Organization", "tasks"), "assigned_to": ("fk_null", "User", "assigned_tasks"),
                 "created_by": ("fk", "User", "created_tasks"), "updated_by": ("fk_null", "User", "updated_tasks")},
        "ordered": True, "n": 40, "unique_str": [],
    },
}
MULTI = {"rev_fk", "m2m", "rev_m2m"}
DT_RANGE = {  # (first day, last day) of the seeded values, as (y, m, d)
    ("Article", "created_at"): ((2024, 1, 1), (2024, 1, 18)),
    ("Task", "created_at"): ((2024, 1, 1), (2024, 1, 9)),
    ("User", "date_joined"): ((2022, 11, 27), (2023, 12, 25)),
    ("User", "last_login"): ((2024, 1, 7), (2024, 2, 6)),
}
CHOICES = {("Article", "status"): ["draft", "published"], ("Task", "status"): ["open", "in_progress", "done"],
           ("Membership", "role"): ["owner", "admin", "member"]}


def str_value(rng, model, field):
    if (model, field) in CHOICES:
        return rng.choice(CHOICES[(model, field)])
    k = lambda n: rng.randint(1, n + 2)
    if model == "User":
        i = k(40)
        return {"username": f"user{i:03d}", "first_name": rng.choice(FIRST_NAMES + [""]),
                "last_name": rng.choice(LAST_NAMES), "email": f"user{i:03d}@example.com"}[field]
    if model == "Tag":
        i = k(15)
        return {"name": f"tag{i:02d}", "slug": f"tag-{i:02d}"}[field]
    if model == "Article":
        i = k(60)
        return {"title": f"Article {i}", "slug": f"article-{i}",
                "body": rng.choice(["", f"Body of article {i}."])}[field]
    if model == "Organization":
        i = k(4)
        return {"name": f"Org {i}", "slug": f"org-{i}"}[field]
    if model == "Task":
        return f"Task {k(40)}"
    raise KeyError((model, field))


def substring(rng, model, field):
    s = str_value(rng, model, field)
    if not s or rng.random() < 0.1:
        return rng.choice(["_", "%", "e", "1", "a"])
    a = rng.randrange(len(s))
    b = rng.randint(a + 1, min(len(s), a + 6))
    return s[a:b]


def date_str(rng, model, field, with_time=False):
    (y1, m1, d1), (y2, m2, d2) = DT_RANGE[(model, field)]
    import datetime as dt
    lo, hi = dt.date(y1, m1, d1), dt.date(y2, m2, d2)
    d = lo + dt.timedelta(days=rng.randint(-1, (hi - lo).days + 1))
    if with_time:
        return f"{d.isoformat()} {rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}:00"
    return d.isoformat()


def caseflip(rng, s):
    return rng.choice([s.upper(), s.lower(), s.capitalize(), s.swapcase()])


# ---------------------------------------------------------------- generator

class Gen:
    def __init__(self, rng):
        self.r = rng
        self.f = Counter()          # features of the current case
        self.lookups = Counter()    # (lookup, relation kind) of the current case

    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return self.r.choice(list(seq))

    # ---------------------------------------------------------- paths

    def path(self, model, max_hops=2, multi=True, nullable=True, want=None):
        """A random lookup path from `model`: (parts, final model, field, type, hop kinds).
        `want` limits the final field types."""
        parts, kinds, m = [], [], model
        hops = self.r.choice([0, 0, 1, 1, 1, 2][: 2 + 2 * max_hops])
        for _ in range(hops):
            rels = [(n, spec) for n, spec in MODELS[m]["rels"].items()
                    if (multi or spec[0] not in MULTI) and (nullable or spec[0] != "fk_null")]
            if not rels:
                break
            n, spec = self.pick(rels)
            parts.append(n)
            kinds.append(spec[0])
            m = spec[1]
        fields = [(f, t) for f, t in MODELS[m]["fields"].items() if want is None or t in want]
        if not fields:
            return self.path(model, max_hops, multi, nullable, want)
        f, t = self.pick(fields)
        if t == "bool" and want is None and self.chance(0.6):  # keep boolean fields rarer
            f, t = self.pick(fields)
        return parts + [f], m, f, t, kinds

    def note_lookup(self, lookup, kinds):
        for k in (kinds or ["local"]):
            self.lookups[(lookup, k)] += 1

    # ---------------------------------------------------------- filter terms

    def term(self, model, multi=True, max_hops=2):
        """One keyword filter term: (key, value node)."""
        r = self.r
        if self.chance(0.12):
            # a relation itself: fk=id, fk__in=[...], nullable fk isnull / =None, m2m=id
            rels = [(n, s) for n, s in MODELS[model]["rels"].items() if multi or s[0] not in MULTI]
            if rels:
                n, (kind, target, _) = self.pick(rels)
                top = MODELS[target]["n"]
                choice = r.random()
                if kind == "fk_null" and choice < 0.5:
                    self.note_lookup("isnull", [kind])
                    if self.chance(0.5):
                        return f"{n}__isnull", Const(self.chance(0.5))
                    return n, Const(None)
                if choice < 0.7:
                    self.note_lookup("exact", [kind])
                    key = n if kind in MULTI or self.chance(0.5) else f"{n}_id"
                    return key, Const(r.randint(1, top))
                self.note_lookup("in", [kind])
                if self.chance(0.3) and kind not in MULTI:
                    # a subquery as the right-hand side
                    sub = self.simple_qs(target, depth=2)
                    self.f["in_subquery"] += 1
                    return f"{n}__in", sub
                return f"{n}__in", Const(sorted(r.sample(range(1, top + 3), r.randint(1, 4))))
        parts, m, f, t, kinds = self.path(model, max_hops=max_hops, multi=multi)
        key = "__".join(parts)
        if t in ("id", "int"):
            top = MODELS[m]["n"]
            lk = self.pick(["exact", "exact", "gt", "gte", "lt", "lte", "in", "range"])
            if lk == "in":
                v = sorted(r.sample(range(1, top + 3), r.randint(0 if self.chance(0.05) else 1, 4)))
            elif lk == "range":
                a = r.randint(1, top)
                v = (a, a + r.randint(0, 8))
            else:
                v = r.randint(0, top + 1)
            if lk == "exact" and parts[-1] == "id" and self.chance(0.3):
                key = "__".join(parts[:-1] + ["pk"])
        elif t in ("str", "choice"):
            lk = self.pick(["exact", "exact", "iexact", "contains", "icontains", "startswith", "istartswith",
                            "endswith", "iendswith", "in", "gt", "lt", "isnull"])
            if lk in ("contains", "icontains", "endswith", "iendswith"):
                v = substring(r, m, f)
                if lk.startswith("i") or self.chance(0.3):
                    v = caseflip(r, v)
            elif lk in ("startswith", "istartswith"):
                v = str_value(r, m, f)[: r.randint(1, 5)] or "A"
                if lk.startswith("i"):
                    v = caseflip(r, v)
            elif lk == "iexact":
                v = caseflip(r, str_value(r, m, f))
            elif lk == "in":
                v = sorted({str_value(r, m, f) for _ in range(r.randint(1, 3))})
            elif lk == "isnull":
                v = self.chance(0.3)
            else:
                v = str_value(r, m, f)
        elif t == "bool":
            lk, v = "exact", self.chance(0.5)
        else:  # dt, dtnull
            opts = ["gt", "gte", "lt", "lte", "range", "year", "month", "day", "year__gte", "month__lte",
                    "day__gt", "date", "week_day", "hour", "quarter"]
            if t == "dtnull":
                opts += ["isnull", "isnull"]
            lk = self.pick(opts)
            if lk in ("gt", "gte", "lt", "lte"):
                v = date_str(r, m, f, with_time=self.chance(0.4))
            elif lk == "range":
                a, b = sorted([date_str(r, m, f), date_str(r, m, f)])
                v = (a, b)
            elif lk.startswith("year"):
                v = r.choice([2022, 2023, 2024, 2025])
            elif lk.startswith("month"):
                v = r.randint(1, 12)
            elif lk.startswith("day"):
                v = r.randint(1, 31)
            elif lk == "date":
                v = date_str(r, m, f)
            elif lk == "week_day":
                v = r.randint(1, 7)
            elif lk == "hour":
                v = r.randint(0, 23)
            elif lk == "quarter":
                v = r.randint(1, 4)
            else:
                v = self.chance(0.5)
        self.note_lookup(lk, kinds)
        if lk != "exact" or self.chance(0.2):
            key = f"{key}__{lk}"
        return key, Const(v)

    def q(self, model, depth=0):
        """A Q tree: Q(term, ...) combined with &, |, ~."""
        r = self.r
        roll = r.random()
        if depth < 2 and roll < 0.35:
            op = self.pick("&||")
            self.f["Q" + op] += 1
            return ("op", op, self.q(model, depth + 1), self.q(model, depth + 1))
        if depth < 3 and roll < 0.5:
            self.f["Q~"] += 1
            return ("inv", self.q(model, depth + 1))
        terms = dict(self.term(model) for _ in range(1 if self.chance(0.7) else 2))  # no repeated keyword
        self.f["Q"] += 1
        return CallKw(Name("Q"), [], list(terms.items()))

    def filter_call(self, qs, model, method=None):
        method = method or ("exclude" if self.chance(0.25) else "filter")
        self.f[method] += 1
        args, kwargs = [], []
        roll = self.r.random()
        if roll < 0.25:
            args.append(self.q(model))
            if self.chance(0.3):
                kwargs.append(self.term(model))
        elif roll < 0.33 and self.exists_expr(model) is not None:
            e = self.exists_expr(model)
            args.append(("inv", e) if self.chance(0.3) else e)
            self.f["Exists(OuterRef)"] += 1
        else:
            for _ in range(1 if self.chance(0.6) else 2):
                kwargs.append(self.term(model))
        seen, uniq = set(), []
        for k, v in kwargs:  # a repeated keyword is a SyntaxError
            if k not in seen:
                seen.add(k)
                uniq.append((k, v))
        return MethodKw(qs, method, args, uniq)

    def exists_expr(self, model):
        """Exists(Sub.objects.filter(<fk to outer>=OuterRef('pk'), ...)) or an OuterRef to an fk."""
        subs = []
        for m, spec in MODELS.items():
            for n, (kind, target, _) in spec["rels"].items():
                if target == model and kind in ("fk", "fk_null", "m2m"):
                    subs.append((m, n, "pk"))
        for n, (kind, target, _) in MODELS[model]["rels"].items():
            if kind in ("fk", "fk_null"):
                subs.append((target, "pk", n))
        if not subs:
            return None
        m, key, outer = self.pick(subs)
        terms = [(key, Call(Name("OuterRef"), Const(outer)))]
        if self.chance(0.8):
            k, v = self.term(m, max_hops=1)
            if k != key:
                terms.append((k, v))
        sub = MethodKw(Attr(Name(m), "objects"), "filter", [], terms)
        return Call(Name("Exists"), sub)

    def simple_qs(self, model, depth=1):
        """A small QuerySet used inside another: `Model.objects.filter(term)`, maybe .values('pk')."""
        qs = Attr(Name(model), "objects")
        qs = MethodKw(qs, "filter", [], [self.term(model, max_hops=1)])
        if self.chance(0.4):
            qs = Method(qs, "values", Const("pk"))
        return qs

    # ---------------------------------------------------------- ordering

    def order_fields(self, model, allow_multi=False, extra=()):
        r = self.r
        out = []
        for _ in range(r.choice([0, 1, 1, 2])):
            if extra and self.chance(0.3):
                out.append(self.pick(extra))
                continue
            parts, m, f, t, kinds = self.path(model, max_hops=1, multi=allow_multi and self.chance(0.3))
            if kinds:
                self.f["order_by related"] += 1
            out.append("__".join(parts))
        out = [("-" if self.chance(0.4) else "") + o for o in dict.fromkeys(out)]
        return out

    def tiebreak(self):
        return self.pick(["id", "-id", "pk", "-pk"])

    # ---------------------------------------------------------- querysets

    def aggregate_expr(self, model, for_annotate=True):
        """(node, value type, relation path or None)."""
        r = self.r
        rels = [(n, s) for n, s in MODELS[model]["rels"].items()]
        multi_rels = [(n, s) for n, s in rels if s[0] in MULTI]
        fn = self.pick(["Count", "Count", "Count", "Sum", "Max", "Min", "Avg"])
        if fn == "Count":
            if multi_rels and (for_annotate or self.chance(0.5)):
                n, (kind, target, _) = self.pick(multi_rels)
                if self.chance(0.2):
                    n2, (k2, t2, _) = self.pick(list(MODELS[target]["rels"].items()))
                    arg, kinds, tm = f"{n}__{n2}", [kind, k2], t2
                else:
                    arg, kinds, tm = n, [kind], target
            else:
                arg, kinds, tm = self.pick(["id", "pk"]), [], model
            kw = []
            if self.chance(0.4):
                kw.append(("distinct", Const(True)))
                self.f["Count(distinct=True)"] += 1
            if self.chance(0.35) and kinds:
                # filter=Q(...) over the counted relation
                k, v = self.term(tm, multi=False, max_hops=1)
                kw.append(("filter", CallKw(Name("Q"), [], [(f"{arg}__{k}", v)])))
                self.f["Count(filter=Q)"] += 1
            for k in kinds or ["local"]:
                self.f[f"Count over {k}"] += 1
            return CallKw(Name("Count"), [Const(arg)], kw), "int"
        # Sum/Max/Min/Avg over an id or datetime, locally or through a relation
        want = {"id"} if fn in ("Sum", "Avg") else {"id", "dt", "str"}
        parts, m, f, t, kinds = self.path(model, max_hops=1, want=want)
        self.f[fn] += 1
        vt = {"Avg": "float"}.get(fn, "int" if t == "id" else ("dt" if t.startswith("dt") else "str"))
        return Call(Name(fn), Const("__".join(parts))), vt

    def queryset(self, model, for_values=False):
        """(qs node, info) with info: annotations {name: type}, to_attr {name: (model, ordered)},
        prefetched set, ordered flag, sliced flag."""
        r = self.r
        info = {"model": model, "ann": {}, "to_attr": {}, "prefetched": set(), "select": set(), "sliced": False}
        # the source
        src_roll = r.random()
        if src_roll < 0.08 and model == "Article":
            qs = Method(Attr(Name("Article"), "objects"), "published")
            self.f["published()"] += 1
        elif src_roll < 0.16:
            # a related manager of one object: User.objects.get(pk=3).articles
            owners = [(m, n) for m, spec in MODELS.items() for n, s in spec["rels"].items()
                      if s[1] == model and s[0] in MULTI]
            if owners:
                m, n = self.pick(owners)
                qs = Method(Attr(Method(Attr(Name(m), "objects"), "get", pk=Const(r.randint(1, min(MODELS[m]["n"], 12)))), n), "all")
                self.f["related manager source"] += 1
            else:
                qs = Method(Attr(Name(model), "objects"), "all")
        else:
            qs = Method(Attr(Name(model), "objects"), "all") if self.chance(0.3) else Attr(Name(model), "objects")
        # filters
        n_filters = r.choice([0, 1, 1, 1, 1, 2])
        multi_prefix = None
        for i in range(n_filters):
            if i > 0 and self.chance(0.3):
                # chained filters over the same multi-valued relation (two joins)
                mrels = [(n, s) for n, s in MODELS[model]["rels"].items() if s[0] in MULTI]
                if mrels:
                    n, (kind, target, _) = self.pick(mrels)
                    k1, v1 = self.term(target, multi=False, max_hops=0)
                    qs = MethodKw(qs, "filter", [], [(f"{n}__{k1}", v1)])
                    k2, v2 = self.term(target, multi=False, max_hops=0)
                    qs = MethodKw(qs, "filter", [], [(f"{n}__{k2}", v2)])
                    self.f["chained filter multi-valued"] += 1
                    self.f["filter"] += 2
                    self.note_lookup("chain", [kind])
                    continue
            qs = self.filter_call(qs, model)
        if isinstance(qs, tuple) and qs[0] == "attr":  # bare manager: add .all()
            qs = Method(qs, "all")
        # annotations
        annotated = False
        if self.chance(0.3):
            kw = []
            for i in range(1 if self.chance(0.75) else 2):
                if self.chance(0.15) and self.exists_expr(model) is not None:
                    name = f"has_{i}"
                    kw.append((name, self.exists_expr(model)))
                    info["ann"][name] = "bool"
                    self.f["annotate Exists"] += 1
                    continue
                node, vt = self.aggregate_expr(model)
                name = f"n{i}"
                kw.append((name, node))
                info["ann"][name] = vt
                annotated = True
            qs = MethodKw(qs, "annotate", [], kw)
            self.f["annotate"] += 1
            if annotated and self.chance(0.35):
                name = self.pick([k for k, t in info["ann"].items() if t == "int"] or [None])
                if name:
                    lk = self.pick(["gte", "gt", "lt", "exact"])
                    qs = MethodKw(qs, "filter", [], [(f"{name}__{lk}" if lk != "exact" else name, Const(r.randint(0, 3)))])
                    self.f["filter on annotation (HAVING)"] += 1
        # ordering (a GROUP BY query ignores Meta.ordering, so an aggregate needs order_by)
        meta_ok = MODELS[model]["ordered"] and not annotated
        if not meta_ok or self.chance(0.75):
            fields = self.order_fields(model, allow_multi=not annotated, extra=tuple(info["ann"]))
            qs = MethodKw(qs, "order_by", [Const(f) for f in fields + [self.tiebreak()]], [])
            self.f["order_by"] += 1
            if any(f.startswith("-") for f in fields):
                self.f["order_by '-'"] += 1
        else:
            self.f["Meta ordering"] += 1
        if self.chance(0.1):
            qs = Method(qs, "distinct")
            self.f["distinct"] += 1
        if self.chance(0.05):
            qs = Method(qs, "reverse")
            self.f["reverse"] += 1
        if for_values:
            return qs, info
        # select_related / prefetch_related / only / defer
        fks = [n for n, s in MODELS[model]["rels"].items() if s[0] in ("fk", "fk_null")]
        if fks and self.chance(0.3):
            sel = r.sample(fks, r.randint(1, min(2, len(fks))))
            qs = Method(qs, "select_related", *[Const(s) for s in sel])
            info["select"] |= set(sel)
            self.f["select_related"] += 1
        if self.chance(0.35):
            qs = self.prefetch(qs, model, info)
        if self.chance(0.05) and not info["select"]:  # Django: a deferred fk cannot be select_related
            f = self.pick([f for f in MODELS[model]["fields"] if f != "id"])
            qs = Method(qs, self.pick(["only", "defer"]), Const(f))
            self.f["only/defer"] += 1
        return qs, info

    def prefetch(self, qs, model, info):
        r = self.r
        rels = list(MODELS[model]["rels"].items())
        args, plain, custom = [], set(), set()
        for _ in range(1 if self.chance(0.7) else 2):
            n, (kind, target, _) = self.pick(rels)
            # Django: a lookup prefetched with a queryset cannot also be prefetched without one
            if self.chance(0.3) and kind in MULTI and n not in plain and n not in custom:
                custom.add(n)
                # Prefetch(queryset=..., to_attr=...)
                inner = Attr(Name(target), "objects")
                if self.chance(0.6):
                    inner = MethodKw(inner, "filter", [], [self.term(target, max_hops=1, multi=False)])
                ordered = MODELS[target]["ordered"]
                if not ordered or self.chance(0.6):
                    fields = self.order_fields(target)
                    inner = MethodKw(inner, "order_by", [Const(f) for f in fields + [self.tiebreak()]], [])
                    ordered = True
                if isinstance(inner, tuple) and inner[0] == "attr":
                    inner = Method(inner, "all")
                tfks = [x for x, s in MODELS[target]["rels"].items() if s[0] in ("fk", "fk_null")]
                if tfks and self.chance(0.25):
                    inner = Method(inner, "select_related", Const(self.pick(tfks)))
                    self.f["select_related in Prefetch"] += 1
                kw = [("queryset", inner)]
                if self.chance(0.6):
                    attr = f"{n}_list"
                    kw.append(("to_attr", Const(attr)))
                    info["to_attr"][attr] = target
                    self.f["Prefetch(to_attr=)"] += 1
                else:
                    info["prefetched"].add(n)
                    info.setdefault("prefetch_ordered", {})[n] = True
                self.f["Prefetch(queryset=)"] += 1
                args.append(CallKw(Name("Prefetch"), [Const(n)], kw))
            else:
                if n in custom:
                    continue
                plain.add(n)
                path = n
                sub = list(MODELS[target]["rels"].items())
                if self.chance(0.35) and sub:
                    n2, _ = self.pick(sub)
                    path = f"{n}__{n2}"
                    self.f["prefetch nested"] += 1
                info["prefetched"].add(n)
                args.append(Const(path))
            self.f[f"prefetch {kind}"] += 1
        self.f["prefetch_related"] += 1
        return Method(qs, "prefetch_related", *args)

    # ---------------------------------------------------------- template pieces

    def field_out(self, var, model, field, ftype):
        """A {{ }} printing one field, with a filter fitting its type."""
        r = self.r
        e = f"{var}.{field}"
        if ftype in ("dt", "dtnull"):
            fmt = self.pick(["'Y-m-d'", "'D, d M Y H:i'", "'Y-m-d H:i'", "'N j'", None])
            if fmt is None:
                if ftype == "dtnull":
                    self.f["tpl |default_if_none"] += 1
                    return T_var(e, ("default_if_none", "'never'"))
                self.f["tpl datetime str"] += 1
                return T_var(e)
            self.f["tpl |date"] += 1
            fl = [("date", fmt)]
            if ftype == "dtnull":
                fl.append(("default", "'never'"))
            return T_var(e, *fl)
        if ftype == "bool":
            self.f["tpl |yesno"] += 1
            return T_var(e, ("yesno", self.pick(["'yes,no'", None])))
        if ftype in ("str", "choice") and self.chance(0.5):
            flt = self.pick([("default", "'-'"), ("truncatechars", str(r.randint(3, 9))), ("upper", None),
                             ("length", None), ("lower", None), ("slice", "':4'"), ("title", None)])
            self.f[f"tpl |{flt[0]}"] += 1
            return T_var(e, flt)
        return T_var(e)

    def inst_body(self, var, model, info, depth):
        """Template nodes printing something of instance `var` of `model`."""
        r = self.r
        nodes = []
        fields = list(MODELS[model]["fields"].items())
        f, t = self.pick(fields)
        nodes.append(self.field_out(var, model, f, t))
        for _ in range(r.choice([0, 1, 1, 2])):
            roll = r.random()
            if roll < 0.2:
                f, t = self.pick(fields)
                nodes += [T_text(" "), self.field_out(var, model, f, t)]
            elif roll < 0.35 and info and info.get("ann"):
                name, vt = self.pick(info["ann"].items())
                self.f["tpl annotation"] += 1
                if vt == "float":
                    nodes += [T_text(" "), T_var(f"{var}.{name}", ("floatformat", self.pick(["2", None])))]
                elif vt == "dt":
                    nodes += [T_text(" "), T_var(f"{var}.{name}", ("date", "'Y-m-d H:i'"))]
                else:
                    nodes += [T_text(" "), T_var(f"{var}.{name}")]
            elif roll < 0.45 and info and info.get("to_attr"):
                attr, target = self.pick(info["to_attr"].items())
                self.f["tpl to_attr loop"] += 1
                inner = self.inst_body("y", target, None, depth + 1) if depth < 1 else [T_var("y.id")]
                nodes += [T_text(" ["), T_for("y", f"{var}.{attr}", inner + [T_text(",")], [T_text("-")]), T_text("]")]
            else:
                rels = list(MODELS[model]["rels"].items())
                n, (kind, target, _) = self.pick(rels)
                nodes += [T_text(" ")] + self.rel_out(var, n, kind, target, info, depth)
        return nodes

    def rel_out(self, var, n, kind, target, info, depth):
        r = self.r
        e = f"{var}.{n}"
        self.f[f"tpl access {kind}"] += 1
        if kind in ("fk", "fk_null"):
            if depth < 1 and self.chance(0.3):
                return self.inst_body(e, target, None, depth + 1)
            f, t = self.pick(MODELS[target]["fields"].items())
            node = self.field_out(e, target, f, t)
            if kind == "fk_null" and not node[2]:
                node = T_var(node[1], ("default", "'-'"))
            return [node]
        roll = r.random()
        if roll < 0.2:
            self.f["tpl .count"] += 1
            return [T_var(f"{e}.count")]
        if roll < 0.4:
            self.f["tpl |length"] += 1
            return [T_var(f"{e}.all", ("length", None))]
        if roll < 0.5:
            self.f["tpl .exists"] += 1
            return [T_if(f"{e}.exists", [T_text("Y")], [T_text("N")])]
        if roll < 0.55:
            self.f["tpl .first"] += 1
            return [T_var(f"{e}.first.id", ("default", "'none'"))]
        if roll < 0.62:
            self.f["tpl with"] += 1
            return [T_with(f"c={e}.count", [T_var("c"), T_text(" item"), T_var("c", ("pluralize", None))])]
        # a loop over the related objects
        ordered = MODELS[target]["ordered"] or (info and info.get("prefetch_ordered", {}).get(n))
        it = f"{e}.all" if ordered else f'{e}.all|dictsort:"id"'
        if self.chance(0.2):
            it = it + "|slice:':3'"
        if not ordered:
            self.f["tpl |dictsort"] += 1
        inner = self.inst_body("z" + str(depth), target, None, depth + 1) if depth < 1 else [T_var(f"z{depth}.id")]
        self.f["tpl for related"] += 1
        return [T_text("["), T_for(f"z{depth}", it, inner + [T_text(" ")],
                                   [T_text("none")] if self.chance(0.4) else None), T_text("]")]

    def qs_template(self, var, model, info):
        r = self.r
        nodes = []
        roll = r.random()
        if roll < 0.15:
            nodes += [T_var(var, ("length", None)), T_text(": ")]
            self.f["tpl qs|length"] += 1
        elif roll < 0.25:
            nodes += [T_var(f"{var}.count"), T_text(": ")]
            self.f["tpl qs.count"] += 1
        body = self.inst_body("x", model, info, 0)
        if self.chance(0.2):
            body = [T_var("forloop.counter"), T_text(".")] + body
            self.f["tpl forloop"] += 1
        loop = T_for("x", var, body + [T_text("; ")], [T_text("empty")] if self.chance(0.4) else None)
        if self.chance(0.15):
            nodes.append(T_if(var, [loop], [T_text("nothing")]))
            self.f["tpl if qs"] += 1
        elif self.chance(0.1):
            nodes.append(T_if(f"{var}.exists", [loop]))
            self.f["tpl if qs.exists"] += 1
        else:
            nodes.append(loop)
        self.f["tpl for"] += 1
        return nodes

    # ---------------------------------------------------------- one context variable

    def variable(self, var):
        """(node, template nodes) for one context variable."""
        r = self.r
        model = self.pick(list(MODELS))
        kind = r.choices(["qs", "values", "values_list", "flat", "count", "exists", "first", "get",
                          "aggregate", "in_bulk", "page", "index", "latest", "values_annotate"],
                         [30, 6, 4, 5, 5, 4, 5, 6, 6, 2, 4, 2, 2, 5])[0]
        self.f[f"kind {kind}"] += 1
        if kind == "qs":
            qs, info = self.queryset(model)
            if self.chance(0.35):
                a = r.randint(0, 4) if self.chance(0.3) else None
                b = (a or 0) + r.randint(1, 6)
                qs = ("slice", qs, a, b)
                self.f["slice"] += 1
            return qs, self.qs_template(var, model, info)
        if kind in ("values", "values_list", "flat", "values_annotate"):
            qs, info = self.queryset(model, for_values=True)
            # fields: local or forward fk paths, sometimes a multi-valued one
            nf = 1 if kind == "flat" else r.randint(1, 3)
            fields = []
            for _ in range(nf):
                parts, m, f, t, kinds = self.path(model, max_hops=1, multi=self.chance(0.2))
                if kinds:
                    self.f["values related"] += 1
                fields.append(("__".join(parts), t))
            fields = list(dict(fields).items())
            fields += [(a, t) for a, t in info["ann"].items() if self.chance(0.5)]
            names = [f for f, _ in fields]
            types = dict(fields)
            # strip the ordering chosen by queryset(): values need a total order over their rows
            if qs[0] == "call" and qs[1][0] == "attr" and qs[1][2] in ("order_by", "distinct", "reverse"):
                while qs[0] == "call" and qs[1][2] in ("order_by", "distinct", "reverse"):
                    qs = qs[1][1]
            if kind == "values_annotate":
                node, vt = self.aggregate_expr(model)
                qs = Method(qs, "values", *[Const(n) for n in names])
                qs = MethodKw(qs, "annotate", [], [("agg", node)])
                types["agg"] = vt
                names = names + ["agg"]
                order = [("-" if self.chance(0.4) else "") + n for n in names if n != "agg"]
                if self.chance(0.3):
                    order = ["-agg" if self.chance(0.5) else "agg"] + order
                self.f["values().annotate() GROUP BY"] += 1
                qs = MethodKw(qs, "order_by", [Const(o) for o in order], [])
                kind = "values"
            else:
                order = [("-" if self.chance(0.4) else "") + n for n in names]
                r.shuffle(order)
                order.append(self.tiebreak())
                if kind == "values":
                    qs = Method(qs, "values", *[Const(n) for n in names])
                elif kind == "values_list":
                    qs = Method(qs, "values_list", *[Const(n) for n in names])
                else:
                    qs = MethodKw(qs, "values_list", [Const(names[0])], [("flat", Const(True))])
                qs = MethodKw(qs, "order_by", [Const(o) for o in order], [])
                if self.chance(0.15):
                    qs = Method(qs, "distinct")
                    self.f["distinct"] += 1
            self.f[kind] += 1
            if self.chance(0.3):
                qs = ("slice", qs, None, r.randint(1, 6))
                self.f["slice"] += 1

            def out(e, t):
                if t in ("dt", "dtnull"):
                    return T_var(e, ("date", "'Y-m-d H:i'"))
                if t == "float":
                    return T_var(e, ("floatformat", "2"))
                return T_var(e)
            if kind == "values":
                body = []
                for n in names:
                    body += [out(f"r.{n}", types[n]), T_text("|")]
                return qs, [T_for("r", var, body + [T_text("; ")], [T_text("none")])]
            if kind == "values_list":
                body = []
                for i, n in enumerate(names):
                    body += [out(f"r.{i}", types[n]), T_text("|")]
                return qs, [T_for("r", var, body + [T_text("; ")])]
            t = types[names[0]]
            if t in ("dt", "dtnull", "float") or self.chance(0.5):
                return qs, [T_for("e", var, [out("e", t), T_text(",")])]
            self.f["tpl |join"] += 1
            return qs, [T_var(var, ("join", "', '"))]
        if kind in ("count", "exists"):
            qs, info = self.queryset(model, for_values=True)
            if kind == "exists":
                return Method(qs, "exists"), [T_if(var, [T_text("yes")], [T_text("no")])]
            return Method(qs, "count"), [T_var(var), T_text(" item"), T_var(var, ("pluralize", None))]
        if kind in ("first", "index", "latest"):
            qs, info = self.queryset(model)
            if kind == "first":
                qs = Method(qs, self.pick(["first", "last"]))
                self.f["first/last"] += 1
            elif kind == "latest":
                dts = [f for f, t in MODELS[model]["fields"].items() if t == "dt"]
                if not dts:
                    qs = Method(qs, "first")
                else:
                    qs = Method(qs, self.pick(["latest", "earliest"]), Const(self.pick(dts)))
                    self.f["latest/earliest"] += 1
            else:
                qs = ("index", qs, r.randint(0, 3))
                self.f["qs[i]"] += 1
            return qs, [T_if(var, self.inst_body(var, model, info, 0), [T_text("none")])]
        if kind == "get":
            qs = Attr(Name(model), "objects")
            info = {"ann": {}, "to_attr": {}, "prefetched": set()}
            if self.chance(0.3):
                qs, info = self.queryset(model)
            if self.chance(0.5) or not MODELS[model]["unique_str"]:
                key, val = self.pick(["pk", "id"]), r.randint(1, MODELS[model]["n"] + (1 if self.chance(0.2) else 0))
            else:
                f = self.pick(MODELS[model]["unique_str"])
                key, val = f, str_value(r, model, f)
            self.f["get"] += 1
            return MethodKw(qs, "get", [], [(key, Const(val))]), self.inst_body(var, model, info, 0)
        if kind == "aggregate":
            qs, info = self.queryset(model, for_values=True)
            kw, types = [], {}
            for i in range(r.randint(1, 3)):
                node, vt = self.aggregate_expr(model, for_annotate=False)
                kw.append((f"a{i}", node))
                types[f"a{i}"] = vt
            self.f["aggregate"] += 1
            nodes = []
            for k, vt in types.items():
                if vt == "float":
                    nodes += [T_var(f"{var}.{k}", ("floatformat", self.pick(["2", "-3", None]))), T_text(" ")]
                elif vt == "dt":
                    nodes += [T_var(f"{var}.{k}", ("date", "'Y-m-d H:i'")), T_text(" ")]
                else:
                    nodes += [T_var(f"{var}.{k}", ("default_if_none", "'none'")), T_text(" ")]
            return MethodKw(qs, "aggregate", [], kw), nodes
        if kind == "in_bulk":
            ids = sorted(r.sample(range(1, MODELS[model]["n"] + 3), r.randint(1, 4)))
            qs, info = self.queryset(model, for_values=True)
            self.f["in_bulk"] += 1
            nodes = [T_var(var, ("length", None)), T_text(":")]
            for i in ids[:3]:
                f, t = self.pick(MODELS[model]["fields"].items())
                nodes += [T_text(" "), self.field_out(f"{var}.{i}", model, f, t)]
            return Method(qs, "in_bulk", Const(ids)), nodes
        if kind == "page":
            qs, info = self.queryset(model)
            per = r.randint(2, 8)
            pag = Call(Name("Paginator"), qs, Const(per))
            n = r.randint(1, 3)
            if self.chance(0.6):
                node = Method(pag, "get_page", Const(n if self.chance(0.8) else "x"))
                self.f["Paginator.get_page"] += 1
            else:
                node = Method(pag, "page", Const(n))
                self.f["Paginator.page"] += 1
            body = self.inst_body("x", model, info, 0)
            nodes = [T_var(f"{var}.number"), T_text("/"), T_var(f"{var}.paginator.num_pages"), T_text(" "),
                     T_if(f"{var}.has_next", [T_text("next="), T_var(f"{var}.next_page_number")]), T_text(" "),
                     T_var(f"{var}.start_index"), T_text("-"), T_var(f"{var}.end_index"), T_text(": "),
                     T_for("x", var, body + [T_text("; ")])]
            if self.chance(0.3):
                nodes = [T_var(f"{var}.paginator.count"), T_text(" ")] + nodes
            return node, nodes
        raise AssertionError(kind)


def generate_case(rng, name):
    g = Gen(rng)
    context, template = [], []
    for i in range(1 if rng.random() < 0.8 else 2):
        var = ["v", "w"][i]
        node, nodes = g.variable(var)
        context.append((var, node))
        if template:
            template.append(T_text(" || "))
        template += nodes
    return {"name": name, "context": context, "template": template,
            "features": dict(g.f), "lookups": dict(g.lookups)}


def generate(seed, n, prefix="fz"):
    rng = random.Random(seed)
    return [generate_case(rng, f"{prefix}{seed}_{i:05d}") for i in range(n)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=20)
    p.add_argument("--out", help="write the JSON here instead of stdout")
    args = p.parse_args(argv)
    cases = [to_json(c) for c in generate(args.seed, args.cases)]
    text = json.dumps(cases, indent=1, ensure_ascii=False) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
