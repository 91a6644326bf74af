"""Generated mini projects for the run-project contract (version 2): views that read
request.GET, paginate, call the low-level cache, write with a post_save receiver that
invalidates, a class-based ListView, decorators (cache_page, vary_on_cookie, never_cache);
a MIDDLEWARE drawn from Django's and the project's own, in a random order; steps that send
any method with data, headers, a user and follow, move the clock, run shell lines, and a
tests.py with assertNumQueries and the test client.

    python3 tests/fuzz/project_gen.py --seed 1 --cases 20 > cases.json

Deterministic for a seed. test_project_fuzz.py runs a seeded batch through real Django and
the sandbox; `python3 tests/fuzz/test_project_fuzz.py --long N` a long one.
"""
import argparse
import json
import random
import textwrap

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
OPTIONAL_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "middleware.stamp",
    "middleware.Guard",
    "middleware.Counted",
]
TAGS = ["tag01", "tag02", "tag03", "tag07", "nope"]
USERS = ["user001", "user002", "user005"]

HEADER = '''
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_page, never_cache
from django.views.decorators.vary import vary_on_cookie
from django.views.generic import ListView
from articles.models import Article, Tag
'''

MIDDLEWARE_PY = '''
from django.db import connection
from django.http import HttpResponse
from django.utils.deprecation import MiddlewareMixin


class Counted(MiddlewareMixin):
    def process_request(self, request):
        request.queries_before = len(connection.queries)

    def process_response(self, request, response):
        response["X-Queries"] = str(len(connection.queries) - getattr(request, "queries_before", 0))
        return response


def stamp(get_response):
    def middleware(request):
        response = get_response(request)
        response["X-Stamp"] = request.method
        return response
    return middleware


class Guard:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.GET.get("blocked"):
            return HttpResponse("blocked", status=403)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        return None
'''


def dedent(text):
    return textwrap.dedent(text).lstrip("\n")


class ProjectGen:
    def __init__(self, rng):
        self.rng = rng

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def decorators(self):
        out = []
        if self.chance(0.35):
            out.append(f"@cache_page({self.pick([30, 60, 300])})")
        if self.chance(0.25):
            out.append("@vary_on_cookie")
        if not out and self.chance(0.1):
            out.append("@never_cache")
        return "\n".join(out) + ("\n" if out else "")

    def list_view(self):
        per_page = self.pick([2, 3, 5])
        related = self.pick(["", ".select_related('author')", ".prefetch_related('tags')"])
        who = "{{ a.author.username }}" if "author" in related or self.chance(0.3) else ""
        tags = "{% for t in a.tags.all %}{{ t.name }},{% endfor %}" if "tags" in related or self.chance(0.2) else ""
        view = f'''
{self.decorators()}def article_list(request):
    qs = Article.objects.published(){related}.order_by("id")
    tag = request.GET.get("tag")
    if tag:
        qs = qs.filter(tags__name=tag)
    page = Paginator(qs, {per_page}).get_page(request.GET.get("page"))
    return render(request, "list.html", {{"page": page, "user": request.user}})
'''
        template = ("{% for a in page %}{{ a.title }} " + who + " " + tags + ";{% endfor %} "
                    "{{ page.number }}/{{ page.paginator.num_pages }}"
                    + (" {{ user.username }}" if self.chance(0.3) else ""))
        return view, {"list.html": template}

    def cache_view(self):
        timeout = self.pick([10, 60, None])
        view = f'''
{self.decorators()}def tag_count(request):
    key = "tags:" + request.GET.get("prefix", "all")
    n = cache.get(key)
    if n is None:
        n = Tag.objects.filter(name__startswith=request.GET.get("prefix", "")).count()
        cache.set(key, n, {timeout})
    return HttpResponse(f"{{n}} tags")


@receiver(post_save, sender=Tag)
def forget_tags(sender, instance, created, **kwargs):
    cache.delete("tags:all")
'''
        return view, {}

    def write_view(self):
        target = self.pick(['redirect("tags")', 'HttpResponse("made", status=201)'])
        view = f'''
def tag_new(request):
    if request.method != "POST":
        return HttpResponse("use POST", status=405)
    Tag.objects.create(name=request.POST["name"], slug=request.POST["name"])
    return {target}
'''
        return view, {}

    def class_view(self):
        view = f'''
class Tags(ListView):
    model = Tag
    paginate_by = {self.pick([3, 4, 20])}
    ordering = ["{self.pick(['id', '-id', 'name'])}"]
    template_name = "tags.html"


tags = Tags.as_view()
'''
        return view, {"tags.html": "{% for t in tag_list %}{{ t.name }} {% endfor %}{{ page_obj.number }}"
                                   " {{ is_paginated }}"}

    def middleware(self):
        chosen = [m for m in OPTIONAL_MIDDLEWARE if self.chance(0.3)]
        base = [SESSION, AUTH] + chosen
        self.rng.shuffle(base)
        # Authentication needs the session before it; keep Django's constraint most of the time.
        if base.index(AUTH) < base.index(SESSION) and self.chance(0.85):
            base.remove(AUTH)
            base.insert(base.index(SESSION) + 1, AUTH)
        if self.chance(0.2):
            base = ["django.middleware.cache.UpdateCacheMiddleware"] + base + ["django.middleware.cache.FetchFromCacheMiddleware"]
        return base

    def request_step(self):
        kind = self.pick(["list", "list", "count", "new", "tags", "missing"])
        r = {}
        if kind == "list":
            path = "/articles/" if self.chance(0.85) else "/articles"
            data = {}
            if self.chance(0.5):
                data["page"] = self.pick(["1", "2", "3", "last", "abc", "99"])
            if self.chance(0.4):
                data["tag"] = self.pick(TAGS)
            if self.chance(0.1):
                data["blocked"] = "1"
            r = {"method": self.pick(["GET", "GET", "GET", "HEAD"]), "path": path}
            if data:
                r["data"] = data
        elif kind == "count":
            r = {"method": "GET", "path": "/count/"}
            if self.chance(0.5):
                r["data"] = {"prefix": self.pick(["tag0", "tag1", "x"])}
        elif kind == "new":
            r = {"method": self.pick(["POST", "POST", "GET", "PUT"]), "path": "/tags/new/",
                 "data": {"name": f"n{self.rng.randrange(1000)}"}}
            if self.chance(0.5):
                r["follow"] = True
        elif kind == "tags":
            r = {"method": "GET", "path": "/tags/"}
            if self.chance(0.5):
                r["data"] = {"page": self.pick(["1", "2", "last", "0"])}
        else:
            r = {"method": "GET", "path": self.pick(["/nowhere/", "/tags"])}
            if self.chance(0.5):
                r["follow"] = True
        if self.chance(0.3):
            r["user"] = self.pick(USERS)
        if self.chance(0.2):
            r["headers"] = {"User-Agent": self.pick(["phone", "desktop"])}
        if self.chance(0.15):
            r.setdefault("headers", {})["If-None-Match"] = '"x"'
        return {"request": r}

    def run_step(self):
        return {"run": self.pick([
            "cache.get('tags:all')",
            "Tag.objects.create(name='made%d', slug='made%d').name" % ((self.rng.randrange(100),) * 2),
            "Article.objects.published().count()",
            "cache.clear()",
            "sorted(k for k in ['tags:all', 'tags:tag0'] if cache.get(k) is not None)",
        ])}

    def tests_py(self):
        n = self.pick([1, 2, 3, 4])
        path = self.pick(["/articles/", "/count/", "/tags/"])
        return dedent(f'''
            from django.test import TestCase


            class FuzzTests(TestCase):
                def test_queries(self):
                    with self.assertNumQueries({n}):
                        self.client.get("{path}")

                def test_callable_form(self):
                    self.assertNumQueries({n}, self.client.get, "{path}")

                def test_post(self):
                    r = self.client.post("/tags/new/", {{"name": "t-test"}}, follow=True)
                    self.assertEqual(r.status_code, 200)
        ''')

    def case(self, name):
        pieces, templates = [HEADER], {}
        for make in (self.list_view, self.cache_view, self.write_view, self.class_view):
            v, t = make()
            pieces.append(v)
            templates.update(t)
        files = {"middleware.py": dedent(MIDDLEWARE_PY),
                 "views.py": "\n".join(dedent(p) for p in pieces)}
        for k, v in templates.items():
            files[f"templates/{k}"] = v
        steps = []
        for _ in range(self.rng.randrange(4, 10)):
            roll = self.rng.random()
            if roll < 0.7:
                steps.append(self.request_step())
            elif roll < 0.82:
                steps.append({"advance": self.pick([5, 31, 61, 301])})
            else:
                steps.append(self.run_step())
        if self.chance(0.3):
            files["tests.py"] = self.tests_py()
            steps.append({"test": "tests.py"})
        case = {
            "name": name,
            "files": files,
            "urls": [["articles/", "article_list", "articles"], ["count/", "tag_count", "count"],
                     ["tags/new/", "tag_new", "tag_new"], ["tags/", "tags", "tags"]],
            "steps": steps,
        }
        if self.chance(0.7):
            case["settings"] = {"MIDDLEWARE": self.middleware()}
        return case


def generate(seed, n, prefix="pz"):
    rng = random.Random(seed)
    return [ProjectGen(rng).case(f"{prefix}{seed}_{i:04d}") for i in range(n)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cases", type=int, default=20)
    a = p.parse_args(argv)
    print(json.dumps(generate(a.seed, a.cases), indent=1))


if __name__ == "__main__":
    main()
