"""Writes project_cases.json, the run-project cases of the differential tests.

    python3 make_project_cases.py            (rewrites project_cases.json next to this file)

Source code inside JSON strings is unreadable and easy to break, so the cases are written
here as Python strings and this script is the one place to edit them. The first five cases
are shared/sample_app/project_examples.json, copied verbatim.
test_project_differential.py checks that project_cases.json is what this script produces.

Conventions:
  - a case whose name starts with `err_` is expected to fail to load ({"name", "error"});
  - project_expectations.json holds, per case, the outcome each step must have in real Django
    (status and query count, run output, error, test outcomes; differential_common.summarize_case).
    After changing cases:
        python3 make_project_cases.py
        python3 seed.py --db /tmp/seed.sqlite3
        python3 django_run_project.py --db /tmp/seed.sqlite3 project_cases.json > /tmp/out.json
        python3 make_project_cases.py --expectations /tmp/out.json
    and read the diff of project_expectations.json: it must show the outcomes you intended.
"""
import argparse
import json
import os
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE / "project_cases.json"
EXPECTATIONS_FILE = HERE / "project_expectations.json"


def src(text):
    return textwrap.dedent(text).lstrip("\n")


def case(name, views, steps, urls=(), templates=None, tests=None, migrations=None, settings=None, modules=None):
    """views: the source of views.py, or a list of pieces (each dedented on its own);
    modules: {"middleware.py": source, …}, the case's other modules (contract version 2),
    placed before views.py as the contract imports them; settings: the case's MIDDLEWARE
    and CACHES."""
    pieces = [views] if isinstance(views, str) else views
    files = {name_: src(body) for name_, body in (modules or {}).items()}
    files["views.py"] = "\n\n".join(src(p).rstrip("\n") for p in pieces) + "\n"
    for path, body in (templates or {}).items():
        files[f"templates/{path}"] = src(body).rstrip("\n")
    if tests is not None:
        files["tests.py"] = src(tests)
    c = {"name": name, "files": files, "urls": [list(u) for u in urls]}
    if settings:
        c["settings"] = settings
    if migrations:
        c["migrations"] = migrations
    c["steps"] = steps
    return c


def get(url, user=None):
    return {"get": url, "user": user} if user else {"get": url}


def request(method, path, data=None, headers=None, user=None, follow=None):
    """A contract version 2 request step."""
    r = {"method": method, "path": path}
    for key, value in (("data", data), ("headers", headers), ("user", user), ("follow", follow)):
        if value is not None:
            r[key] = value
    return {"request": r}


def run(code):
    return {"run": src(code).rstrip("\n")}


def advance(seconds):
    return {"advance": seconds}


TEST = {"test": "tests.py"}

# A list view many cases share: published articles, newest first, five of them.
LIST_VIEW = '''
def article_list(request):
    articles = Article.objects.published()[:5]
    return render(request, "articles/list.html", {"articles": articles})
'''
LIST_TEMPLATE = "<ul>{% for a in articles %}<li>{{ a.title }}</li>{% endfor %}</ul>"
LIST_URL = ("articles/", "article_list", "articles:list")
DETAIL_URL = ("articles/<slug:slug>/", "article_detail", "articles:detail")

# A view whose page depends on who is logged in (the cache_page leak cases).
DASHBOARD_TEMPLATE = "Hello {{ user.username|default:'anonymous' }}: {{ n }} tasks assigned"


def n_plus_one_cases():
    return [
        case(
            "select_related_author_fixes_n_plus_one",
            '''
            from django.shortcuts import render
            from articles.models import Article


            def naive(request):
                articles = Article.objects.published()[:5]
                return render(request, "articles/authors.html", {"articles": articles})


            def fixed(request):
                articles = Article.objects.published().select_related("author")[:5]
                return render(request, "articles/authors.html", {"articles": articles})
            ''',
            templates={"articles/authors.html": "{% for a in articles %}{{ a.title }} by {{ a.author.username }}; {% endfor %}"},
            urls=[("naive/", "naive", "articles:naive"), ("fixed/", "fixed", "articles:fixed")],
            steps=[get("/naive/"), get("/fixed/")],
        ),
        case(
            "prefetch_related_tags_and_count",
            '''
            from django.shortcuts import render
            from articles.models import Article


            def naive(request):
                articles = Article.objects.published()[:5]
                return render(request, "articles/tags.html", {"articles": articles})


            def fixed(request):
                articles = Article.objects.published().prefetch_related("tags")[:5]
                return render(request, "articles/tags.html", {"articles": articles})
            ''',
            # a.tags.count on a prefetched relation is answered from the prefetch cache.
            templates={"articles/tags.html": "{% for a in articles %}{{ a.title }} ({{ a.tags.count }}): {% for t in a.tags.all %}{{ t.name }} {% endfor %}| {% endfor %}"},
            urls=[("naive/", "naive", "articles:naive"), ("fixed/", "fixed", "articles:fixed")],
            steps=[get("/naive/"), get("/fixed/")],
        ),
        case(
            "prefetch_object_to_attr_and_filtered",
            '''
            from django.db.models import Prefetch
            from django.shortcuts import render
            from articles.models import Article, Tag


            def sorted_tags(request):
                articles = Article.objects.published().prefetch_related(
                    Prefetch("tags", queryset=Tag.objects.order_by("-name"), to_attr="tags_desc")
                )[:4]
                return render(request, "articles/sorted.html", {"articles": articles})


            def wrong_attr(request):
                # Prefetches into tags_desc, but the template reads a.tags.all: N+1 again.
                articles = Article.objects.published().prefetch_related(
                    Prefetch("tags", queryset=Tag.objects.order_by("-name"), to_attr="tags_desc")
                )[:4]
                return render(request, "articles/unsorted.html", {"articles": articles})


            def filtered(request):
                late = Tag.objects.filter(name__gte="tag08")
                articles = Article.objects.published().prefetch_related(Prefetch("tags", queryset=late))[:4]
                return render(request, "articles/unsorted.html", {"articles": articles})
            ''',
            templates={
                "articles/sorted.html": "{% for a in articles %}{{ a.id }}:{% for t in a.tags_desc %} {{ t.name }}{% endfor %}; {% endfor %}",
                "articles/unsorted.html": "{% for a in articles %}{{ a.id }}:{% for t in a.tags.all %} {{ t.name }}{% endfor %}; {% endfor %}",
            },
            urls=[("sorted/", "sorted_tags", "articles:sorted"), ("wrong/", "wrong_attr", "articles:wrong"),
                  ("filtered/", "filtered", "articles:filtered")],
            steps=[get("/sorted/"), get("/wrong/"), get("/filtered/")],
        ),
        case(
            "task_list_select_related_nullable_users",
            '''
            from django.shortcuts import get_object_or_404, render
            from orgs.models import Organization
            from tasks.models import Task


            def naive(request, org_slug):
                org = get_object_or_404(Organization, slug=org_slug)
                tasks = Task.objects.filter(organization=org)[:6]
                return render(request, "tasks/list.html", {"org": org, "tasks": tasks, "user": request.user})


            def fixed(request, org_slug):
                org = get_object_or_404(Organization, slug=org_slug)
                tasks = Task.objects.filter(organization=org).select_related("assigned_to", "created_by", "updated_by")[:6]
                return render(request, "tasks/list.html", {"org": org, "tasks": tasks, "user": request.user})
            ''',
            templates={"tasks/list.html": "{{ org.name }} for {{ user.username }}: {% for t in tasks %}{{ t.title }} [{{ t.assigned_to.username|default:'-' }} {{ t.created_by.username }} {{ t.updated_by.username|default:'-' }}] {% endfor %}"},
            urls=[("orgs/<slug:org_slug>/naive/", "naive", "tasks:naive"),
                  ("orgs/<slug:org_slug>/fixed/", "fixed", "tasks:fixed")],
            steps=[get("/orgs/org-1/naive/", "user002"), get("/orgs/org-1/fixed/", "user002"),
                   get("/orgs/org-4/fixed/", "user002")],
        ),
        case(
            "nested_prefetch_memberships_users",
            '''
            from django.shortcuts import render
            from orgs.models import Organization


            def half_fixed(request):
                orgs = Organization.objects.order_by("id").prefetch_related("memberships")[:2]
                return render(request, "orgs/members.html", {"orgs": orgs})


            def fixed(request):
                orgs = Organization.objects.order_by("id").prefetch_related("memberships__user")[:2]
                return render(request, "orgs/members.html", {"orgs": orgs})
            ''',
            templates={"orgs/members.html": "{% for o in orgs %}{{ o.name }}:{% for m in o.memberships.all|slice:':3' %} {{ m.user.username }}({{ m.role }}){% endfor %}; {% endfor %}"},
            urls=[("half/", "half_fixed", "orgs:half"), ("fixed/", "fixed", "orgs:fixed")],
            steps=[get("/half/"), get("/fixed/")],
        ),
    ]


def cache_page_cases():
    return [
        case(
            "cache_page_keys_include_query_string",
            '''
            from django.shortcuts import render
            from django.views.decorators.cache import cache_page
            from articles.models import Article


            @cache_page(60)
            def search(request):
                q = request.GET.get("q", "")
                articles = Article.objects.filter(title__contains=q).order_by("id")[:3]
                return render(request, "search.html", {"q": q, "articles": articles})
            ''',
            templates={"search.html": "{{ q }}: {% for a in articles %}{{ a.title }}, {% endfor %}"},
            urls=[("search/", "search", "search")],
            steps=[get("/search/?q=1"), get("/search/?q=1"), get("/search/?q=2"),
                   get("/search/?q=1&x=y"), get("/search/?x=y&q=1"), get("/search/?q=1&x=y"),
                   get("/search/")],
        ),
        case(
            "cache_page_ttl_boundary",
            '''
            from django.http import HttpResponse
            from django.views.decorators.cache import cache_page
            from articles.models import Tag


            @cache_page(60)
            def tag_count(request):
                return HttpResponse(f"{Tag.objects.count()} tags")
            ''',
            urls=[("tags/count/", "tag_count", "tags:count")],
            steps=[get("/tags/count/"), advance(59), get("/tags/count/"),
                   advance(1), get("/tags/count/"),  # 60 s after caching: expired exactly now
                   advance(59), run("Tag.objects.create(name='late', slug='late')"),
                   get("/tags/count/"),  # still the stale count
                   advance(2), get("/tags/count/")],  # 61 s: fresh
        ),
        case(
            "cache_page_leaks_page_between_users",
            '''
            from django.shortcuts import render
            from django.views.decorators.cache import cache_page
            from tasks.models import Task


            @cache_page(60)
            def dashboard(request):
                # cache_page runs inside the middleware: SessionMiddleware adds "Vary: Cookie"
                # only after the page was stored under a key made from the URL alone.
                n = Task.objects.filter(assigned_to=request.user).count() if request.user.is_authenticated else 0
                return render(request, "dashboard.html", {"user": request.user, "n": n})
            ''',
            templates={"dashboard.html": DASHBOARD_TEMPLATE},
            urls=[("dashboard/", "dashboard", "dashboard")],
            steps=[get("/dashboard/", "user006"), get("/dashboard/", "user002"), get("/dashboard/"),
                   advance(60), get("/dashboard/"), get("/dashboard/", "user006")],
        ),
        case(
            "cache_page_vary_on_cookie_fix",
            '''
            from django.shortcuts import render
            from django.views.decorators.cache import cache_page
            from django.views.decorators.vary import vary_on_cookie
            from tasks.models import Task


            @cache_page(60)
            @vary_on_cookie
            def dashboard(request):
                n = Task.objects.filter(assigned_to=request.user).count() if request.user.is_authenticated else 0
                return render(request, "dashboard.html", {"user": request.user, "n": n})
            ''',
            templates={"dashboard.html": DASHBOARD_TEMPLATE},
            urls=[("dashboard/", "dashboard", "dashboard")],
            # The key varies on the whole Cookie header: the same user with the same signed
            # session cookie hits; once the clock moves, a new login signs a new cookie.
            steps=[get("/dashboard/", "user002"), get("/dashboard/", "user006"), get("/dashboard/", "user002"),
                   get("/dashboard/"), get("/dashboard/"), advance(1), get("/dashboard/", "user002")],
        ),
        case(
            "per_user_cache_key_and_uncached_page",
            '''
            from django.core.cache import cache
            from django.http import HttpResponse
            from django.shortcuts import render
            from django.template.loader import render_to_string
            from django.views.decorators.cache import cache_page
            from articles.models import Article
            from tasks.models import Task


            def dashboard(request):
                key = f"dashboard:{request.user.pk}"
                html = cache.get(key)
                if html is None:
                    n = Task.objects.filter(assigned_to=request.user).count()
                    html = render_to_string("dashboard.html", {"user": request.user, "n": n})
                    cache.set(key, html, 60)
                return HttpResponse(html)


            def me(request):
                n = Task.objects.filter(assigned_to=request.user).count()
                return render(request, "dashboard.html", {"user": request.user, "n": n})


            @cache_page(60)
            def public(request):
                return HttpResponse(f"{Article.objects.published().count()} articles")
            ''',
            templates={"dashboard.html": DASHBOARD_TEMPLATE},
            urls=[("dashboard/", "dashboard", "dashboard"), ("me/", "me", "me"), ("public/", "public", "public")],
            steps=[get("/dashboard/", "user002"), get("/dashboard/", "user006"), get("/dashboard/", "user002"),
                   run("cache.get('dashboard:6')"),
                   get("/me/", "user006"), get("/me/", "user006"),
                   get("/public/", "user002"), get("/public/", "user006")],
        ),
        case(
            "cache_page_does_not_store_404",
            '''
            from django.shortcuts import get_object_or_404, render
            from django.views.decorators.cache import cache_page
            from articles.models import Article


            @cache_page(60)
            def article_detail(request, slug):
                article = get_object_or_404(Article, slug=slug)
                return render(request, "articles/detail.html", {"article": article})
            ''',
            templates={"articles/detail.html": "{{ article.title }} by {{ article.author.username }}"},
            urls=[DETAIL_URL],
            steps=[get("/articles/nope/"), get("/articles/nope/"), get("/articles/article-1/"),
                   get("/articles/article-1/")],
        ),
    ]


def low_level_cache_cases():
    views = '''
    from django.core.cache import cache
    from articles.models import Article
    '''
    return [
        case(
            "cache_api_set_get_add_delete",
            views,
            steps=[
                run("cache.set('a', 1)\ncache.get('a')"),
                run("cache.add('a', 2)"),
                run("cache.add('b', 2)"),
                run("cache.get('missing', 'fallback')"),
                run("cache.delete('a')"),
                run("cache.delete('a')"),
                run("cache.get('a') is None"),
                # LocMemCache pickles: mutating what get() returned does not change the cache.
                run("cache.set('obj', {'ids': [1, 2]})\ncache.get('obj')['ids'].append(3)\ncache.get('obj')"),
                run("cache.has_key('b'), 'b' in cache"),
            ],
        ),
        case(
            "cache_api_get_or_set",
            [views, '''
            def published_count():
                return Article.objects.published().count()
            '''],
            steps=[
                run("cache.get_or_set('n_pub', published_count, 30)"),
                run("cache.get_or_set('n_pub', published_count, 30)"),
                advance(30),
                run("cache.get_or_set('n_pub', published_count, 30)"),
                # A plain value as default is computed before get_or_set is even called.
                run("cache.get_or_set('n_all', Article.objects.count(), 30)"),
                run("cache.get_or_set('n_all', Article.objects.count(), 30)"),
            ],
        ),
        case(
            "cache_api_many_incr_decr",
            views,
            steps=[
                run("cache.set_many({'a': 1, 'b': 2})"),
                run("cache.get_many(['a', 'b', 'c'])"),
                run("cache.incr('a')"),
                run("cache.incr('a', 10)"),
                run("cache.decr('b')"),
                run("cache.incr('nope')"),
                run("cache.delete_many(['a', 'b'])\ncache.get_many(['a', 'b'])"),
            ],
        ),
        case(
            "cache_api_timeouts_touch_clear",
            views,
            steps=[
                run("cache.set('forever', 'x', None)\ncache.set('gone', 'y', 0)\ncache.set('short', 'z', 10)\ncache.set('default', 'd')"),
                run("cache.get_many(['forever', 'gone', 'short', 'default'])"),
                advance(10),
                run("cache.get('short')"),
                run("cache.set('t', 1, 10)"),
                advance(5),
                run("cache.touch('t', 10)"),
                advance(9),
                run("cache.get('t')"),
                advance(1),
                run("cache.get('t')"),
                run("cache.touch('t')"),
                advance(274),  # 299 s after set(): the default timeout is 300
                run("cache.get('default')"),
                advance(1),
                run("cache.get('default')"),
                advance(10 ** 9),
                run("cache.get('forever')"),
                run("cache.clear()\ncache.get('forever')"),
            ],
        ),
    ]


def fragment_cases():
    return [
        case(
            "template_fragment_cache_vary_on_user",
            '''
            from django.shortcuts import render
            from articles.models import Tag


            def home(request):
                tags = Tag.objects.order_by("name")[:3]
                return render(request, "home.html", {"tags": tags, "user": request.user})
            ''',
            templates={"home.html": '''
                {% load cache %}
                {% cache 60 tag_cloud %}{% for t in tags %}{{ t.name }} {% endfor %}{% endcache %}
                {% cache 60 greeting user.username %}Hi {{ user.username|default:"guest" }} ({{ user.memberships.count }} orgs){% endcache %}
                '''},
            urls=[("", "home", "home")],
            steps=[get("/"), get("/", "user002"), get("/", "user006"), get("/", "user002"), get("/"),
                   advance(60), get("/", "user002")],
        ),
        case(
            "template_fragment_invalidation",
            '''
            from django.core.cache import cache
            from django.core.cache.utils import make_template_fragment_key
            from django.db.models.signals import post_save
            from django.dispatch import receiver
            from django.shortcuts import render
            from articles.models import Tag


            def home(request):
                return render(request, "home.html", {"tags": Tag.objects.order_by("-id")[:3]})


            @receiver(post_save, sender=Tag)
            def drop_tag_cloud(sender, instance, **kwargs):
                cache.delete(make_template_fragment_key("tag_cloud", ["v1"]))
            ''',
            templates={"home.html": '{% load cache %}{% cache 300 tag_cloud "v1" %}{% for t in tags %}{{ t.name }} {% endfor %}{% endcache %}'},
            urls=[("", "home", "home")],
            steps=[get("/"), get("/"),
                   run("make_template_fragment_key('tag_cloud', ['v1'])"),
                   run("Tag.objects.create(name='newest', slug='newest')"),
                   get("/"),
                   # QuerySet.update() sends no post_save: the fragment stays stale.
                   run("Tag.objects.filter(slug='newest').update(name='renamed')"),
                   get("/"),
                   advance(300), get("/")],
        ),
    ]


def signal_cases():
    return [
        case(
            "signals_pre_save_post_save_created",
            '''
            from django.db.models.signals import post_save, pre_save
            from django.dispatch import receiver
            from articles.models import Tag

            log = []


            @receiver(pre_save, sender=Tag)
            def before(sender, instance, **kwargs):
                log.append(f"pre_save {instance.name} pk={instance.pk}")


            @receiver(post_save, sender=Tag)
            def after(sender, instance, created, **kwargs):
                log.append(f"post_save {instance.name} pk={instance.pk} created={created}")
            ''',
            steps=[
                run("t = Tag.objects.create(name='new', slug='new')\nlog"),
                run("t.name = 'renamed'\nt.save()\nlog[2:]"),
                run("Tag.objects.filter(pk=t.pk).update(name='quiet')\nlen(log)"),
                run("Tag.objects.bulk_create([Tag(name='bulk', slug='bulk')])\nlen(log)"),
                run("Tag.objects.get_or_create(slug='new', defaults={'name': 'ignored'})\nlen(log)"),
                run("Tag.objects.update_or_create(slug='new', defaults={'name': 'updated'})\nlog[4:]"),
            ],
        ),
        case(
            "signals_post_delete_invalidates_cache",
            '''
            from django.core.cache import cache
            from django.db.models.signals import post_delete
            from django.dispatch import receiver
            from django.http import Http404, HttpResponse
            from articles.models import Article

            deleted = []


            def article_detail(request, slug):
                key = f"article:{slug}"
                text = cache.get(key)
                if text is None:
                    article = Article.objects.filter(slug=slug).select_related("author").first()
                    if article is None:
                        raise Http404("no such article")
                    text = f"{article.title} by {article.author.username}"
                    cache.set(key, text, 300)
                return HttpResponse(text)


            @receiver(post_delete, sender=Article)
            def forget_article(sender, instance, **kwargs):
                cache.delete(f"article:{instance.slug}")
                deleted.append(instance.pk)
            ''',
            urls=[DETAIL_URL],
            steps=[
                get("/articles/article-1/"), get("/articles/article-1/"),
                run("Article.objects.get(slug='article-1').delete()"),
                run("deleted"),
                get("/articles/article-1/"),
                # With a delete receiver connected, QuerySet.delete() must load the rows.
                run("Article.objects.filter(pk__in=[2, 5]).delete()\ndeleted"),
            ],
        ),
        case(
            "signals_m2m_changed_actions",
            '''
            from django.db.models.signals import m2m_changed
            from django.dispatch import receiver
            from articles.models import Article

            events = []


            @receiver(m2m_changed, sender=Article.tags.through)
            def tags_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
                events.append(f"{action} {sorted(pk_set) if pk_set is not None else None}")
            ''',
            steps=[
                run("a = Article.objects.get(pk=1)\na.tags.add(1, 2)\nevents"),
                run("a.tags.add(1)\nevents[2:]"),
                run("a.tags.remove(2)\nevents[4:]"),
                run("a.tags.set([3, 1])\nevents[6:]"),
                run("a.tags.clear()\nevents[10:]"),
                run("Article.objects.get(pk=2).tags.all().count()"),
            ],
        ),
        case(
            "signals_connect_dispatch_uid_and_weak_refs",
            '''
            from django.db.models.signals import post_save
            from articles.models import Tag

            calls = []


            def count_tag_saves(sender, instance, **kwargs):
                calls.append(f"counted {instance.slug}")


            post_save.connect(count_tag_saves, sender=Tag, dispatch_uid="count-tags")
            post_save.connect(count_tag_saves, sender=Tag, dispatch_uid="count-tags")  # same uid: once
            # Receivers are weak references by default: nothing else keeps this lambda alive.
            post_save.connect(lambda sender, instance, **kw: calls.append("lambda"), sender=Tag)
            post_save.connect(lambda sender, instance, **kw: calls.append("strong lambda"), sender=Tag, weak=False)
            ''',
            steps=[
                run("Tag.objects.create(name='one', slug='one')\ncalls"),
                run("post_save.disconnect(dispatch_uid='count-tags', sender=Tag)"),
                run("Tag.objects.create(name='two', slug='two')\ncalls"),
            ],
        ),
    ]


def write_cases():
    return [
        case(
            "save_update_vs_insert",
            '''
            from articles.models import Tag
            ''',
            steps=[
                run("t = Tag.objects.get(pk=1)\nt.name = 'renamed'\nt.save()"),
                run("t.save(update_fields=['name'])"),
                run("n = Tag(name='fresh', slug='fresh')\nn.save()\nn.pk"),
                # An explicit pk: UPDATE first, which finds the row.
                run("Tag(pk=2, name='again', slug='tag-02').save()"),
                # An explicit pk that does not exist: UPDATE (0 rows), then INSERT.
                run("Tag(pk=99, name='x99', slug='x99').save()"),
                run("Tag(pk=100, name='x100', slug='x100').save(force_insert=True)"),
                run("list(Tag.objects.filter(pk__in=[1, 2, 99, 100]).values_list('name', flat=True))"),
            ],
        ),
        case(
            "create_get_or_create_update_or_create",
            '''
            from articles.models import Tag
            ''',
            steps=[
                run("Tag.objects.create(name='made', slug='made')"),
                run("Tag.objects.get_or_create(slug='tag-01', defaults={'name': 'ignored'})"),
                run("Tag.objects.get_or_create(slug='brand-new', defaults={'name': 'Brand new'})"),
                run("Tag.objects.update_or_create(slug='tag-02', defaults={'name': 'updated'})"),
                run("Tag.objects.update_or_create(slug='newer', defaults={'name': 'Newer'})"),
                run("Tag.objects.create(name='tag03', slug='dup-name')"),
                run("Tag.objects.count()"),
            ],
        ),
        case(
            "queryset_update_with_f_expressions",
            '''
            from django.db.models import F, Value
            from django.db.models.functions import Concat, Upper
            from articles.models import Article
            from tasks.models import Task
            ''',
            steps=[
                run("Task.objects.filter(organization__slug='org-1', status='in_progress').update(status='done')"),
                run("Task.objects.filter(updated_by__isnull=True).update(updated_by=F('created_by'))"),
                run("Task.objects.filter(pk=5).values_list('created_by_id', 'updated_by_id').get()"),
                run("Article.objects.filter(pk=1).update(title=Concat(F('title'), Value(' (edited)')))"),
                run("Article.objects.filter(pk__in=[1, 2]).update(slug=Upper('slug'))"),
                run("list(Article.objects.filter(pk__in=[1, 2]).order_by('pk').values_list('title', 'slug'))"),
                run("Article.objects.filter(pk=0).update(title='nobody')"),
            ],
        ),
        case(
            "delete_user_cascades_and_sets_null",
            '''
            from django.contrib.auth.models import User
            from articles.models import Article
            from orgs.models import Membership
            from tasks.models import Task
            ''',
            steps=[
                run("list(Task.objects.filter(assigned_to__username='user006').order_by('id').values_list('id', flat=True))"),
                run("User.objects.get(username='user006').delete()"),
                run("list(Task.objects.filter(id__in=[1, 9, 15]).order_by('id').values_list('id', 'assigned_to_id'))"),
                run("Article.objects.filter(author_id=6).exists(), Membership.objects.filter(user_id=6).count()"),
            ],
        ),
        case(
            "delete_article_removes_tag_links",
            '''
            from articles.models import Article, Tag
            ''',
            steps=[
                run("a = Article.objects.get(pk=3)\nlist(a.tags.values_list('id', flat=True))"),
                run("a.delete()"),
                run("a.pk, Article.tags.through.objects.filter(article_id=3).count()"),
                run("Tag.objects.filter(pk=4).delete()"),
                run("Tag.objects.filter(name__startswith='nothing').delete()"),
            ],
        ),
        case(
            "bulk_create_and_m2m_add_remove_set_clear",
            '''
            from articles.models import Article, Tag
            ''',
            steps=[
                run("Tag.objects.bulk_create([Tag(name='x1', slug='x1'), Tag(name='x2', slug='x2')])"),
                run("a = Article.objects.get(pk=1)\na.tags.add(16, 17)"),
                run("a.tags.add(16)"),
                run("a.tags.remove(4)"),
                run("a.tags.set([16, 1])"),
                run("sorted(t.name for t in a.tags.all())"),
                run("Tag.objects.get(pk=16).articles.count()"),
                run("a.tags.clear()\na.tags.count()"),
            ],
        ),
    ]


def transaction_cases():
    return [
        case(
            "atomic_block_commits_together",
            '''
            from django.db import transaction
            from articles.models import Tag


            def create_two():
                with transaction.atomic():
                    Tag.objects.create(name="a1", slug="a1")
                    Tag.objects.create(name="a2", slug="a2")
            ''',
            steps=[run("create_two()"), run("Tag.objects.filter(slug__in=['a1', 'a2']).count()")],
        ),
        case(
            "atomic_rolls_back_after_exception",
            '''
            from django.db import transaction
            from articles.models import Tag


            def failing():
                with transaction.atomic():
                    Tag.objects.create(name="r1", slug="r1")
                    raise ValueError("boom")


            @transaction.atomic
            def rename_then_duplicate(pk):
                Tag.objects.filter(pk=pk).update(name="renamed")
                Tag.objects.create(name="tag02", slug="dup-name")  # names are unique
            ''',
            steps=[
                run("failing()"),
                run("try:\n    failing()\nexcept ValueError as exc:\n    caught = str(exc)\ncaught"),
                run("Tag.objects.filter(slug='r1').exists()"),
                run("rename_then_duplicate(1)"),
                run("Tag.objects.get(pk=1).name"),
            ],
        ),
        case(
            "atomic_nested_savepoints_and_on_commit",
            '''
            from django.db import IntegrityError, transaction
            from articles.models import Tag

            log = []


            def nested():
                with transaction.atomic():
                    Tag.objects.create(name="outer", slug="outer")
                    transaction.on_commit(lambda: log.append("committed"))
                    try:
                        with transaction.atomic():
                            Tag.objects.create(name="tag01", slug="dup")  # names are unique
                    except IntegrityError:
                        log.append("inner rolled back")
                    with transaction.atomic():
                        Tag.objects.create(name="inner ok", slug="inner-ok")
                    log.append("end of outer block")


            def without_savepoint():
                with transaction.atomic():
                    with transaction.atomic(savepoint=False):
                        Tag.objects.create(name="nosp", slug="nosp")
            ''',
            steps=[
                run("nested()\nlog"),
                run("list(Tag.objects.filter(slug__in=['outer', 'dup', 'inner-ok']).values_list('slug', flat=True))"),
                run("without_savepoint()"),
                run("transaction.on_commit(lambda: log.append('immediately'))\nlog[-1]"),
            ],
        ),
        case(
            "atomic_view_decorator",
            '''
            from django.db import transaction
            from django.http import HttpResponse
            from articles.models import Tag


            @transaction.atomic
            def create_tag(request):
                tag = Tag.objects.create(name=request.GET["name"], slug=request.GET["name"])
                return HttpResponse(f"created {tag.pk}")
            ''',
            urls=[("tags/create/", "create_tag", "tags:create")],
            steps=[get("/tags/create/?name=zz"), get("/tags/create/?name=zz"), get("/tags/create/"),
                   run("Tag.objects.filter(slug='zz').count()")],
        ),
    ]


def view_cases():
    return [
        case(
            "get_object_or_404_and_unknown_urls",
            '''
            from django.shortcuts import get_object_or_404, render
            from articles.models import Article


            def article_detail(request, slug):
                article = get_object_or_404(Article.objects.select_related("author"), slug=slug)
                return render(request, "articles/detail.html", {"article": article})


            def by_id(request, pk):
                article = get_object_or_404(Article, pk=pk)
                return render(request, "articles/detail.html", {"article": article})
            ''',
            templates={"articles/detail.html": "{{ article.title }} by {{ article.author.username }}"},
            urls=[DETAIL_URL, ("id/<int:pk>/", "by_id", "articles:by_id")],
            steps=[get("/articles/article-1/"), get("/articles/nope/"), get("/nothing/"),
                   get("/articles/article-1"), get("/id/2/"), get("/id/999/"), get("/id/abc/")],
        ),
        case(
            "custom_404_template",
            '''
            from django.shortcuts import get_object_or_404, render
            from articles.models import Article


            def article_detail(request, slug):
                article = get_object_or_404(Article, slug=slug)
                return render(request, "articles/detail.html", {"article": article})
            ''',
            templates={"articles/detail.html": "{{ article.title }}",
                       "404.html": "Sorry, {{ request_path }} is not here."},
            urls=[DETAIL_URL],
            steps=[get("/articles/nope/"), get("/elsewhere/?x=1")],
        ),
        case(
            "reverse_and_url_tag_with_namespaces",
            '''
            from django.shortcuts import render
            from django.urls import resolve, reverse
            from articles.models import Article


            def article_list(request):
                articles = Article.objects.published().order_by("id")[:2]
                return render(request, "articles/links.html", {"articles": articles})


            def article_detail(request, slug):
                return render(request, "articles/links.html", {"articles": []})


            def org_detail(request, org_slug):
                return render(request, "articles/links.html", {"articles": []})


            def about(request):
                return render(request, "broken.html", {})
            ''',
            templates={
                "articles/links.html": "{% for a in articles %}<a href=\"{% url 'articles:detail' a.slug %}\">{{ a.title }}</a> {% endfor %}"
                                       "{% url 'orgs:detail' org_slug='org-1' %} {% url 'about' %} {% url 'articles:list' as list_url %}{{ list_url }}",
                "broken.html": "{% url 'articles:missing' %}",
            },
            urls=[("articles/", "article_list", "articles:list"), DETAIL_URL,
                  ("orgs/<slug:org_slug>/", "org_detail", "orgs:detail"), ("about/", "about", "about")],
            steps=[
                get("/articles/"),
                run("reverse('articles:detail', args=['hello'])"),
                run("reverse('orgs:detail', kwargs={'org_slug': 'org-2'})"),
                run("reverse('articles:detail', kwargs={'slug': 'not a slug'})"),
                run("reverse('detail')"),
                run("m = resolve('/orgs/org-3/')\n(m.view_name, m.namespace, m.url_name, m.kwargs)"),
                get("/about/"),
            ],
        ),
        case(
            "request_get_parameters",
            '''
            from django.shortcuts import render
            from articles.models import Article


            def search(request):
                q = request.GET.get("q", "").strip()
                tags = request.GET.getlist("tag")
                try:
                    limit = max(1, min(int(request.GET.get("limit", "3")), 5))
                except ValueError:
                    limit = 3
                articles = Article.objects.published().order_by("id")
                if q:
                    articles = articles.filter(title__icontains=q)
                if tags:
                    articles = articles.filter(tags__slug__in=tags).distinct()
                return render(request, "search.html", {"q": q, "tags": tags, "articles": articles[:limit]})
            ''',
            templates={"search.html": "q={{ q }} tags={{ tags|join:',' }}: {% for a in articles %}{{ a.title }}; {% empty %}nothing{% endfor %}"},
            urls=[("search/", "search", "search")],
            steps=[get("/search/"), get("/search/?q=+article+1&limit=2"), get("/search/?tag=tag-04&tag=tag-07&limit=9"),
                   get("/search/?limit=abc"), get("/search/?q=%3Cb%3Ebold%3C/b%3E"), get("/search/?q=zzz")],
        ),
        case(
            "view_returns_none_and_other_view_errors",
            '''
            from django.http import HttpResponse
            from django.shortcuts import render
            from articles.models import Article


            def returns_none(request):
                Article.objects.count()


            def key_error(request):
                return HttpResponse(request.GET["missing"])


            def missing_template(request):
                return render(request, "nope.html", {})


            def bad_template(request):
                return render(request, "bad.html", {})


            def ok(request):
                return HttpResponse("still fine")
            ''',
            templates={"bad.html": "{% for a in %}"},
            urls=[("none/", "returns_none", "errors:none"), ("key/", "key_error", "errors:key"),
                  ("missing/", "missing_template", "errors:missing"), ("bad/", "bad_template", "errors:bad"),
                  ("ok/", "ok", "errors:ok")],
            steps=[get("/none/"), get("/key/"), get("/missing/"), get("/bad/"), get("/ok/")],
        ),
    ]


def pagination_cases():
    return [
        case(
            "paginator_get_page_edge_cases",
            '''
            from django.core.paginator import Paginator
            from django.shortcuts import render
            from articles.models import Article


            def paged(request):
                articles = Article.objects.published()
                q = request.GET.get("q")
                if q:
                    articles = articles.filter(title__contains=q)
                page = Paginator(articles, 10).get_page(request.GET.get("page"))
                return render(request, "paged.html", {"page": page})
            ''',
            templates={"paged.html": "page {{ page.number }} of {{ page.paginator.num_pages }} ({{ page.paginator.count }}): {% for a in page %}{{ a.id }} {% endfor %}{% if page.has_previous %}prev={{ page.previous_page_number }}{% endif %}"},
            urls=[("paged/", "paged", "paged")],
            steps=[get("/paged/"), get("/paged/?page="), get("/paged/?page=abc"), get("/paged/?page=0"),
                   get("/paged/?page=-1"), get("/paged/?page=9999"), get("/paged/?page=2"),
                   get("/paged/?page=1.5"), get("/paged/?q=zzz"), get("/paged/?q=zzz&page=3")],
        ),
        case(
            "paginator_page_errors_caught_in_view",
            '''
            from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
            from django.http import Http404, HttpResponse
            from django.shortcuts import render
            from articles.models import Tag


            def tags(request):
                paginator = Paginator(Tag.objects.order_by("name"), 4)
                try:
                    page = paginator.page(request.GET.get("page", 1))
                except PageNotAnInteger:
                    return HttpResponse("page must be a number", status=400)
                except EmptyPage:
                    raise Http404("no such page")
                return render(request, "tags.html", {"page": page})
            ''',
            templates={"tags.html": "{% for t in page %}{{ t.name }} {% endfor %}{{ page.start_index }}-{{ page.end_index }} of {{ page.paginator.count }}"},
            urls=[("tags/", "tags", "tags")],
            steps=[get("/tags/"), get("/tags/?page=4"), get("/tags/?page=x"), get("/tags/?page=5"),
                   get("/tags/?page=0"),
                   run("from django.core.paginator import Paginator\nPaginator(Tag.objects.order_by('id'), 4).page(9)"),
                   run("Paginator(Tag.objects.order_by('id'), 4).page(0)"),
                   run("p = Paginator(Tag.objects.order_by('id'), 4)\n(p.count, p.num_pages, list(p.page_range))")],
        ),
        case(
            "keyset_pagination_is_stable_under_inserts",
            '''
            from django.db.models import Q
            from django.shortcuts import render
            from articles.models import Article


            def keyset(request):
                qs = Article.objects.published().order_by("-created_at", "-id")
                before, before_id = request.GET.get("before"), request.GET.get("id")
                if before and before_id:
                    qs = qs.filter(Q(created_at__lt=before) | Q(created_at=before, id__lt=before_id))
                articles = list(qs[:4])
                return render(request, "keyset.html", {"articles": articles, "last": articles[-1] if articles else None})
            ''',
            templates={"keyset.html": '{% for a in articles %}{{ a.id }} {% endfor %}{% if last %}next=?before={{ last.created_at|date:"Y-m-d H:i:s" }}&id={{ last.id }}{% endif %}'},
            urls=[("keyset/", "keyset", "keyset")],
            steps=[get("/keyset/"), get("/keyset/?before=2024-01-17 17:08:00&id=8"),
                   run("Article.objects.create(author_id=1, title='Newest', slug='newest', status='published', created_at='2026-01-01 00:00:00')"),
                   get("/keyset/?before=2024-01-17 17:08:00&id=8"),
                   get("/keyset/?before=2024-01-01 00:00:00&id=1")],
        ),
    ]


def testing_cases():
    list_views = ['''
    from django.shortcuts import redirect, render
    from articles.models import Article
    ''', LIST_VIEW, '''

    def naive_authors(request):
        articles = Article.objects.published()[:3]
        return render(request, "articles/authors.html", {"articles": articles})


    def old_list(request):
        return redirect("articles:list")
    ''']
    list_templates = {"articles/list.html": LIST_TEMPLATE,
                      "articles/authors.html": "{% for a in articles %}{{ a.author.username }} {% endfor %}"}
    list_urls = [LIST_URL, ("authors/", "naive_authors", "articles:authors"), ("old/", "old_list", "articles:old")]
    return [
        case(
            "tests_assert_num_queries_forms",
            list_views,
            templates=list_templates,
            urls=list_urls,
            tests='''
            from django.test import TestCase
            from articles.models import Article


            def load_titles():
                return [a.title for a in Article.objects.published().select_related("author")[:3]]


            class QueryCountTests(TestCase):
                def test_list_in_one_query(self):
                    with self.assertNumQueries(1):
                        self.client.get("/articles/")

                def test_call_form_passes(self):
                    self.assertNumQueries(1, load_titles)

                def test_call_form_fails(self):
                    self.assertNumQueries(0, load_titles)

                def test_n_plus_one_is_caught(self):
                    with self.assertNumQueries(1):
                        response = self.client.get("/authors/")
                    self.assertEqual(response.status_code, 200)
            ''',
            steps=[TEST],
        ),
        case(
            "tests_set_up_test_data_and_rollback",
            '''
            from articles.models import Tag
            ''',
            tests='''
            from django.db import IntegrityError, transaction
            from django.test import TestCase
            from articles.models import Tag


            class TagTests(TestCase):
                @classmethod
                def setUpTestData(cls):
                    cls.tag = Tag.objects.create(name="fixture", slug="fixture")

                def test_a_rename_is_visible_inside_the_test(self):
                    self.tag.name = "changed"
                    self.tag.save()
                    self.assertEqual(Tag.objects.get(slug="fixture").name, "changed")

                def test_b_each_test_starts_over(self):
                    self.assertEqual(self.tag.name, "fixture")
                    self.assertEqual(Tag.objects.get(slug="fixture").name, "fixture")

                def test_sees_the_case_database(self):
                    self.assertEqual(Tag.objects.count(), 17)

                def test_wrong_count(self):
                    self.assertEqual(Tag.objects.count(), 15, "seed plus fixture")

                def test_lookup_error_is_an_error(self):
                    Tag.objects.get(slug="nope")

                def test_integrity_error_in_atomic(self):
                    with self.assertRaises(IntegrityError):
                        with transaction.atomic():
                            Tag.objects.create(name="fixture", slug="other")
                    self.assertEqual(Tag.objects.filter(name="fixture").count(), 1)

                def test_integrity_error_breaks_the_transaction(self):
                    with self.assertRaises(IntegrityError):
                        Tag.objects.create(name="fixture", slug="other")
                    Tag.objects.count()
            ''',
            steps=[run("Tag.objects.create(name='from run', slug='from-run')"), TEST,
                   run("Tag.objects.filter(slug='fixture').exists(), Tag.objects.count()")],
        ),
        case(
            "tests_client_assertions",
            list_views,
            templates=list_templates,
            urls=list_urls,
            tests='''
            from django.test import TestCase


            class PageTests(TestCase):
                def test_contains(self):
                    self.assertContains(self.client.get("/articles/"), "Article 47")

                def test_contains_count(self):
                    self.assertContains(self.client.get("/articles/"), "<li>", count=5)

                def test_contains_wrong_count(self):
                    self.assertContains(self.client.get("/articles/"), "<li>", count=4)

                def test_not_contains(self):
                    self.assertNotContains(self.client.get("/articles/"), "Article 47")

                def test_redirects(self):
                    self.assertRedirects(self.client.get("/old/"), "/articles/")

                def test_redirects_elsewhere(self):
                    self.assertRedirects(self.client.get("/old/"), "/elsewhere/")

                def test_template_used(self):
                    self.assertTemplateUsed(self.client.get("/articles/"), "articles/list.html")

                def test_missing_page(self):
                    self.assertEqual(self.client.get("/articles/nope/").status_code, 404)
            ''',
            steps=[TEST],
        ),
        case(
            "tests_pytest_django_style",
            list_views,
            templates=list_templates,
            urls=list_urls,
            tests='''
            import pytest
            from articles.models import Tag


            @pytest.mark.django_db
            def test_list_queries(client, django_assert_num_queries):
                with django_assert_num_queries(1):
                    response = client.get("/articles/")
                assert response.status_code == 200


            @pytest.mark.django_db
            def test_authors_too_many_queries(client, django_assert_num_queries):
                with django_assert_num_queries(1):
                    client.get("/authors/")


            @pytest.mark.django_db
            def test_authors_at_most(client, django_assert_max_num_queries):
                with django_assert_max_num_queries(4):
                    client.get("/authors/")


            def test_user_model(db, django_user_model):
                django_user_model.objects.create(username="pytest-user")
                assert django_user_model.objects.count() == 41


            def test_view_with_request_factory(rf, db):
                from views import article_list

                response = article_list(rf.get("/articles/"))
                assert b"<li>" in response.content


            @pytest.mark.django_db
            def test_plain_assert_fails():
                assert Tag.objects.count() == 3


            def test_without_db_access():
                Tag.objects.count()


            class TestTags:
                @pytest.mark.django_db
                def test_exists(self):
                    assert Tag.objects.filter(slug="tag-01").exists()
            ''',
            steps=[TEST],
        ),
        case(
            "tests_file_that_does_not_import",
            list_views,
            templates=list_templates,
            urls=list_urls,
            tests='''
            from django.test import TestCase
            from views import missing_helper
            ''',
            steps=[TEST, get("/articles/")],
        ),
    ]


def queryset_cases():
    return [
        case(
            "exists_count_len_and_result_cache",
            '''
            from django.shortcuts import render
            from articles.models import Article, Tag


            def with_exists(request):
                return render(request, "tags.html", {"tags": Tag.objects.order_by("name")[:3], "check": "exists"})


            def with_truth(request):
                return render(request, "tags_truth.html", {"tags": Tag.objects.order_by("name")[:3]})
            ''',
            templates={"tags.html": "{% if tags.exists %}{{ tags.count }}: {% for t in tags %}{{ t.name }} {% endfor %}{% endif %}",
                       "tags_truth.html": "{% if tags %}{{ tags|length }}: {% for t in tags %}{{ t.name }} {% endfor %}{% endif %}"},
            urls=[("exists/", "with_exists", "tags:exists"), ("truth/", "with_truth", "tags:truth")],
            steps=[
                get("/exists/"), get("/truth/"),
                run("qs = Article.objects.published()\nqs.exists()"),
                run("qs.count()"),
                run("len(qs)"),
                run("qs.count(), qs.exists()"),
                run("bool(Article.objects.filter(pk=0))"),
                run("Article.objects.filter(status='draft').first()"),
                run("Tag.objects.first().name, Tag.objects.last().name"),
                run("Tag.objects.filter(pk__in=[]).count()"),
            ],
        ),
        case(
            "values_and_values_list",
            '''
            from django.db.models import Count
            from articles.models import Article, Tag
            ''',
            steps=[
                run("list(Tag.objects.order_by('name').values('id', 'name')[:2])"),
                run("list(Tag.objects.values_list('slug', flat=True)[:3])"),
                run("Article.objects.values_list('id', 'author__username', named=True).get(pk=1)"),
                run("Tag.objects.values_list('name', flat=True).get(pk=3)"),
                run("dict(Tag.objects.order_by('id').values_list('slug', 'name')[:2])"),
                run("list(Article.objects.values('status').annotate(n=Count('id')).order_by('status'))"),
                # Meta.ordering (-created_at) is not applied to GROUP BY queries since Django 3.1.
                run("list(Article.objects.values('status').annotate(n=Count('id')))"),
            ],
        ),
        case(
            "annotate_count_filter_and_distinct",
            '''
            from django.contrib.auth.models import User
            from django.db.models import Count, Q
            from django.shortcuts import render
            from articles.models import Tag
            from orgs.models import Organization


            def tag_stats(request):
                tags = Tag.objects.annotate(
                    n=Count("articles"),
                    n_pub=Count("articles", filter=Q(articles__status="published")),
                ).order_by("-n", "name")[:4]
                return render(request, "stats.html", {"tags": tags})
            ''',
            templates={"stats.html": "{% for t in tags %}{{ t.name }}={{ t.n }}/{{ t.n_pub }} {% endfor %}"},
            urls=[("stats/", "tag_stats", "stats")],
            steps=[
                get("/stats/"),
                run("u = User.objects.annotate(n_art=Count('articles'), n_mem=Count('memberships')).get(username='user008')\n(u.n_art, u.n_mem)"),
                run("u = User.objects.annotate(n_art=Count('articles', distinct=True), n_mem=Count('memberships', distinct=True)).get(username='user008')\n(u.n_art, u.n_mem)"),
                # Two joined multi-valued relations multiply rows: the filtered count is 14 x 14.
                run("list(Organization.objects.annotate(open_tasks=Count('tasks', filter=Q(tasks__status='open')), members=Count('memberships', distinct=True)).order_by('id').values_list('slug', 'open_tasks', 'members'))"),
                run("list(Organization.objects.annotate(open_tasks=Count('tasks', filter=Q(tasks__status='open'), distinct=True), members=Count('memberships', distinct=True)).order_by('id').values_list('slug', 'open_tasks', 'members'))"),
            ],
        ),
    ]


LAB_INDEX_ORG = {"model": "Task", "add_index": {"fields": ["organization", "status", "-created_at"], "name": "task_org_status_created_idx"}}
LAB_INDEX_STATUS = {"model": "Task", "add_index": {"fields": ["status", "-created_at"], "name": "task_status_created_idx"}}


def index_cases():
    views = '''
    from articles.models import Article
    from tasks.models import Task
    '''
    return [
        case(
            "explain_without_extra_index",
            views,
            steps=[
                run("print(Task.objects.filter(organization_id=1, status='open').order_by('-created_at')[:10].explain())"),
                run("Task.objects.filter(organization_id=1, status='open').order_by('-created_at')[:10].explain()"),
                run("Task.objects.filter(title='Task 1').explain()"),
            ],
        ),
        case(
            "explain_after_add_index_migration",
            views,
            migrations=[{"model": "Task", "add_index": {"fields": ["organization", "status", "-created_at"],
                                                       "name": "task_org_status_created_idx"}}],
            steps=[
                run("Task.objects.filter(organization_id=1, status='open').order_by('-created_at')[:10].explain()"),
                run("Task.objects.filter(organization_id=1).explain()"),
                run("Task.objects.filter(organization_id=2, status='open').count()"),
            ],
        ),
        # The indexes lab's queries (its two views and its shell lines) in every index state
        # the lab offers: the plan the sandbox shows must be SQLite's.
        *[
            case(
                f"explain_lab_queries_{state}",
                views,
                migrations=migrations,
                steps=[
                    run("Task.objects.filter(organization_id=1, status='open').order_by('-created_at')[:20].explain()"),
                    run("Task.objects.filter(status='open').order_by('-created_at')[:20].explain()"),
                    run("Task.objects.filter(title__icontains='fix').explain()"),
                ],
            )
            for state, migrations in [
                ("no_index", []),
                ("org_status_created", [LAB_INDEX_ORG]),
                ("status_created", [LAB_INDEX_STATUS]),
                ("both", [LAB_INDEX_ORG, LAB_INDEX_STATUS]),
            ]
        ],
        # A unique lookup: SQLite knows it returns one row and skips Meta.ordering's sort.
        case("explain_lab_unique_slug", views, steps=[run("Article.objects.filter(slug='article-1').explain()")]),
        case(
            "explain_db_index_and_remove_index",
            views,
            migrations=[{"model": "Task", "db_index": "title"},
                        {"model": "Task", "remove_index": "tasks_task_organization_id_50c2ed4a"}],
            steps=[
                run("Task.objects.filter(title='Task 1').explain()"),
                run("Task.objects.filter(organization_id=2).explain()"),
            ],
        ),
    ]


def error_cases():
    return [
        case(
            "error_steps_do_not_stop_the_case",
            ['''
            from django.shortcuts import render
            from articles.models import Article, Tag
            ''', LIST_VIEW],
            templates={"articles/list.html": LIST_TEMPLATE},
            urls=[LIST_URL],
            steps=[
                run("Article.objects.get(slug='missing')"),
                run("Article.objects.create(author_id=1, title='Dup', slug='article-1', created_at='2026-01-01 00:00:00')"),
                run("undefined_name + 1"),
                run("Article.objects.get(author_id=8)"),
                run("Article.objects.create(author_id=999, title='Orphan', slug='orphan', created_at='2026-01-01 00:00:00')"),
                run("x = = 1"),
                run("1 / 0"),
                run("Tag.objects.get(pk=1).name"),
                get("/articles/"),
            ],
        ),
        case(
            "err_views_syntax_error",
            '''
            from articles.models import Article


            def article_list(request:
                return None
            ''',
            urls=[("articles/", "article_list", "articles:list")],
            steps=[get("/articles/")],
        ),
        case(
            "err_unknown_view_in_urls",
            '''
            from django.http import HttpResponse


            def article_list(request):
                return HttpResponse("list")
            ''',
            urls=[("articles/", "article_list", "articles:list"), ("articles/<slug:slug>/", "article_detial", "articles:detail")],
            steps=[get("/articles/")],
        ),
        case(
            "err_views_import_error",
            '''
            from articles.models import Article, Comment
            ''',
            steps=[run("Article.objects.count()")],
        ),
    ]


def clock_cases():
    return [
        case(
            "virtual_clock_now_and_last_login",
            '''
            import time

            from django.contrib.auth.models import User
            from django.http import HttpResponse
            from django.utils import timezone


            def whoami(request):
                return HttpResponse(f"{request.user.username} last seen {request.user.last_login}")
            ''',
            urls=[("whoami/", "whoami", "whoami")],
            steps=[
                run("timezone.now(), time.time()"),
                advance(3600),
                # date_joined's default is the timezone.now function itself.
                run("User.objects.create(username='clock').date_joined"),
                # force_login updates last_login (not counted: it runs before the capture).
                get("/whoami/", "user002"),
                run("User.objects.get(username='user002').last_login"),
            ],
        ),
    ]


def class_name_cases():
    """The class names Django's messages and reprs use: a custom QuerySet (`ArticleQuerySet`),
    the manager `as_manager()` makes, many-to-many vs reverse related managers."""
    return [
        case(
            "queryset_and_manager_class_names",
            '''
            from django.contrib.auth.models import User
            from articles.models import Article, Tag
            ''',
            [
                run("Article.objects.all().foo"),
                run("Article.objects.foo"),
                run("Article.objects.get(pk=1).tags.foo"),
                run("User.objects.get(pk=1).articles.foo"),
                run("Tag.objects.all().foo"),
                run("type(Article.objects).__name__"),
                run("Article.objects.filter(pk__in=[1, 2]).order_by('id')"),
                run("Article.objects.get(pk=1).tags.all()"),
                run("Tag.objects.order_by('id')[:2]"),
                run("Article.objects.published().nope()"),
            ],
        ),
    ]


SESSION_MW = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH_MW = "django.contrib.auth.middleware.AuthenticationMiddleware"
UPDATE_MW = "django.middleware.cache.UpdateCacheMiddleware"
FETCH_MW = "django.middleware.cache.FetchFromCacheMiddleware"
# What `startproject` writes.
STARTPROJECT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    SESSION_MW,
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    AUTH_MW,
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TAG_VIEWS = '''
from django.shortcuts import redirect, render
from django.http import HttpResponse
from django.views.decorators.http import require_POST
from articles.models import Article, Tag


def tag_list(request):
    tags = Tag.objects.order_by("-id")[:3]
    return render(request, "tags.html", {"tags": tags})


@require_POST
def tag_new(request):
    Tag.objects.create(name=request.POST["name"], slug=request.POST["slug"])
    return redirect("tags:list")


def hop(request):
    return redirect("/tags/new-hop/")


def hop2(request):
    return redirect("tags:list", permanent=True)


def loop(request):
    return redirect("/loop/")


def echo(request):
    return HttpResponse(f"{request.method} {sorted(request.GET.items())} {sorted(request.POST.items())} "
                        f"{request.headers.get('user-agent')} {request.META.get('HTTP_X_TOKEN')}")
'''
TAG_URLS = [("tags/", "tag_list", "tags:list"), ("tags/new/", "tag_new", "tags:new"), ("hop/", "hop", "hop"),
            ("tags/new-hop/", "hop2", "hop2"), ("loop/", "loop", "loop"), ("echo/", "echo", "echo")]
TAG_TEMPLATES = {"tags.html": "{% for t in tags %}{{ t.name }} {% endfor %}"}


def request_cases():
    """Contract version 2: any method, form data, headers, follow; response headers."""
    return [
        case(
            "v2_methods_data_headers_and_redirects",
            TAG_VIEWS,
            templates=TAG_TEMPLATES,
            urls=TAG_URLS,
            steps=[
                request("POST", "/tags/new/", data={"name": "Rust", "slug": "rust"}),
                request("POST", "/tags/new/", data={"name": "Wasm", "slug": "wasm"}, follow=True),
                request("GET", "/tags/new/"),
                request("GET", "/hop/", follow=True),
                request("GET", "/hop/"),
                request("GET", "/loop/", follow=True),
                request("GET", "/echo/?a=1", data={"b": ["2", "3"]}, headers={"User-Agent": "mobile", "X-Token": "t"}),
                request("GET", "/echo/?a=1"),
                request("POST", "/echo/", data={"x": "1", "y": ["a", "b"]}),
                request("PUT", "/echo/", data={"x": "1"}),
                request("DELETE", "/echo/"),
                request("HEAD", "/echo/"),
                request("OPTIONS", "/echo/"),
                request("PATCH", "/tags/new/", data={"name": "x"}),
                request("GET", "/nowhere/"),
                request("GET", "/tags/", user="user002"),
            ],
        ),
        case(
            "v2_vary_on_headers_with_the_client_headers",
            '''
            from django.http import HttpResponse
            from django.views.decorators.cache import cache_page
            from django.views.decorators.vary import vary_on_headers
            from articles.models import Article


            @cache_page(60)
            @vary_on_headers("User-Agent")
            def home(request):
                n = Article.objects.count()
                return HttpResponse(f"{n} articles for {request.headers.get('User-Agent')}")
            ''',
            urls=[("", "home", "home")],
            steps=[
                request("GET", "/", headers={"User-Agent": "phone"}),
                request("GET", "/", headers={"User-Agent": "phone"}),
                advance(10),
                request("GET", "/", headers={"User-Agent": "phone"}),
                request("GET", "/", headers={"User-Agent": "desktop"}),
                request("GET", "/"),
                request("HEAD", "/", headers={"User-Agent": "phone"}),
                advance(61),
                request("GET", "/", headers={"User-Agent": "phone"}),
            ],
        ),
        case(
            "v2_site_wide_cache_middleware",
            '''
            from django.http import HttpResponse
            from django.views.decorators.cache import never_cache
            from articles.models import Article, Tag


            def home(request):
                return HttpResponse(f"{Article.objects.count()} articles")


            def me(request):
                return HttpResponse(f"hello {request.user.username or 'stranger'}")


            @never_cache
            def live(request):
                return HttpResponse(f"{Tag.objects.count()} tags")
            ''',
            urls=[("", "home", "home"), ("me/", "me", "me"), ("live/", "live", "live")],
            settings={"MIDDLEWARE": ["django.middleware.cache.UpdateCacheMiddleware", SESSION_MW, AUTH_MW,
                                     "django.middleware.cache.FetchFromCacheMiddleware"]},
            steps=[
                request("GET", "/"),
                request("GET", "/"),
                advance(100),
                request("GET", "/"),
                request("POST", "/"),
                request("GET", "/me/"),
                request("GET", "/me/", user="user002"),
                request("GET", "/live/"),
                request("GET", "/live/"),
                advance(600),
                request("GET", "/"),
                run("Article.objects.filter(pk=1).delete()"),
                request("GET", "/"),
            ],
        ),
        case(
            "v2_conditional_get_etag_and_304",
            '''
            from django.http import HttpResponse
            from articles.models import Article


            def home(request):
                return HttpResponse(f"{Article.objects.count()} articles")


            def empty(request):
                return HttpResponse("")
            ''',
            urls=[("", "home", "home"), ("empty/", "empty", "empty")],
            settings={"MIDDLEWARE": [SESSION_MW, AUTH_MW, "django.middleware.http.ConditionalGetMiddleware"]},
            steps=[
                request("GET", "/"),
                request("GET", "/", headers={"If-None-Match": '"nope"'}),
                # md5 of "60 articles", the page on the default seed.
                request("GET", "/", headers={"If-None-Match": '"08dc38ff9a5773d6162a571edb39558f"'}),
                request("GET", "/", headers={"If-None-Match": '*'}),
                request("GET", "/", headers={"If-None-Match": 'W/"08dc38ff9a5773d6162a571edb39558f", "x"'}),
                run("import hashlib; c = str(Article.objects.count()) + ' articles'; etag = '\"' + hashlib.md5(c.encode()).hexdigest() + '\"'; etag"),
                request("POST", "/"),
                request("GET", "/empty/"),
                request("HEAD", "/"),
            ],
        ),
        case(
            "v2_common_middleware_appends_the_slash",
            TAG_VIEWS,
            templates=TAG_TEMPLATES,
            urls=TAG_URLS,
            settings={"MIDDLEWARE": [SESSION_MW, "django.middleware.common.CommonMiddleware", AUTH_MW]},
            steps=[
                request("GET", "/tags"),
                request("GET", "/tags?page=2"),
                request("GET", "/tags", follow=True),
                request("GET", "/nothing"),
                request("POST", "/tags/new", data={"name": "a", "slug": "a"}),
            ],
        ),
        case(
            "v2_startproject_middleware_headers",
            TAG_VIEWS,
            templates=TAG_TEMPLATES,
            urls=TAG_URLS,
            settings={"MIDDLEWARE": STARTPROJECT_MIDDLEWARE},
            steps=[
                request("GET", "/tags/"),
                request("GET", "/tags/", user="user002"),
                request("POST", "/tags/new/", data={"name": "Go", "slug": "go"}, follow=True),
                request("GET", "/tags"),
                request("GET", "/none/"),
            ],
        ),
        case(
            "v2_own_middleware_function_and_class",
            '''
            from django.http import HttpResponse
            from articles.models import Article


            def home(request):
                return HttpResponse(f"{Article.objects.count()} articles, tagged {getattr(request, 'tag', None)}")


            def boom(request):
                raise ValueError("broken view")


            def other(request):
                raise KeyError("other")
            ''',
            modules={"middleware.py": '''
                from django.http import HttpResponse
                from django.db import connection

                CALLS = []


                def counting(get_response):
                    CALLS.append("init")

                    def middleware(request):
                        request.tag = "counted"
                        response = get_response(request)
                        response["X-Calls"] = str(len(CALLS))
                        return response
                    return middleware


                class Rescue:
                    def __init__(self, get_response):
                        self.get_response = get_response

                    def __call__(self, request):
                        response = self.get_response(request)
                        response.headers["X-Rescue"] = "seen"
                        return response

                    def process_view(self, request, view_func, view_args, view_kwargs):
                        if request.GET.get("short"):
                            return HttpResponse("short-circuited by process_view")
                        return None

                    def process_exception(self, request, exception):
                        if isinstance(exception, ValueError):
                            return HttpResponse(f"rescued: {exception}", status=400)
                        return None
            '''},
            urls=[("", "home", "home"), ("boom/", "boom", "boom"), ("other/", "other", "other")],
            settings={"MIDDLEWARE": [SESSION_MW, "middleware.counting", AUTH_MW, "middleware.Rescue"]},
            steps=[
                request("GET", "/"),
                request("GET", "/?short=1"),
                request("GET", "/boom/"),
                request("GET", "/other/"),
                request("GET", "/nowhere/"),
                run("import middleware; len(middleware.CALLS)"),
            ],
        ),
        case(
            "v2_broken_middleware_settings",
            '''
            from django.http import HttpResponse


            def home(request):
                return HttpResponse("home")
            ''',
            modules={"middleware.py": '''
                def returns_none(get_response):
                    def middleware(request):
                        get_response(request)
                    return middleware


                def factory_none(get_response):
                    return None
            '''},
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": [SESSION_MW, AUTH_MW, "middleware.returns_none"]},
            steps=[request("GET", "/"), get("/")],
        ),
        case(
            "v2_auth_middleware_without_sessions",
            '''
            from django.http import HttpResponse


            def home(request):
                return HttpResponse("home")
            ''',
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": [AUTH_MW]},
            steps=[request("GET", "/")],
        ),
        case(
            "v2_no_middleware_at_all",
            '''
            from django.http import HttpResponse


            def home(request):
                return HttpResponse(f"{hasattr(request, 'user')} {hasattr(request, 'session')}")
            ''',
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": []},
            steps=[request("GET", "/"), request("GET", "/", user="user002")],
        ),
        case(
            "v2_unknown_middleware_module",
            '''
            from django.http import HttpResponse


            def home(request):
                return HttpResponse("home")
            ''',
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": [SESSION_MW, "django.middleware.nope.NopeMiddleware"]},
            steps=[request("GET", "/")],
        ),
        case(
            "v2_unknown_middleware_class",
            '''
            from django.http import HttpResponse


            def home(request):
                return HttpResponse("home")
            ''',
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": ["django.middleware.common.NopeMiddleware"]},
            steps=[request("GET", "/")],
        ),
        case(
            "v2_cache_settings_prefix_timeout_version",
            '''
            from django.core.cache import cache
            ''',
            settings={"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                             "LOCATION": "v2", "TIMEOUT": 30, "KEY_PREFIX": "site", "VERSION": 3}}},
            steps=[
                run("cache.set('k', 'v'); cache.get('k'), cache.make_key('k'), cache.default_timeout, cache.key_prefix, cache.version"),
                advance(31),
                run("cache.get('k', 'expired')"),
                run("cache.set('n', 1); cache.incr_version('n'), cache.get('n'), cache.get('n', version=4), cache.get('n', version=3)"),
                run("cache.decr_version('n', version=4), cache.get('n', version=3)"),
                run("cache.incr_version('missing')"),
                run("cache.set_many({'a': 1, 'b': 2}); sorted(cache.get_many(['a', 'b', 'c']).items())"),
                run("cache.get_or_set('c', lambda: 5), cache.get('c')"),
                run("cache.touch('c', 100), cache.touch('zzz')"),
            ],
        ),
        case(
            "v2_dummy_cache_setting",
            '''
            from django.core.cache import cache
            from django.http import HttpResponse
            from django.views.decorators.cache import cache_page
            from articles.models import Article


            @cache_page(60)
            def home(request):
                return HttpResponse(f"{Article.objects.count()} articles")
            ''',
            urls=[("", "home", "home")],
            settings={"CACHES": {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}},
            steps=[
                run("cache.set('k', 1); cache.get('k', 'none stored'), cache.add('k', 2)"),
                request("GET", "/"),
                request("GET", "/"),
            ],
        ),
        case(
            "v2_middleware_styles_mixin_query_count_resolver_match",
            'from django.http import HttpResponse\nfrom articles.models import Article\n\n\ndef home(request):\n    titles = [a.author.username for a in Article.objects.all()[:3]]\n    return HttpResponse(f\'{len(titles)} {request.view_name} {request.resolver_match.url_name} {request.META["REMOTE_ADDR"]}\')\n',
            modules={"middleware.py": "import time\nfrom django.db import connection, reset_queries\nfrom django.utils.deprecation import MiddlewareMixin\n\n\nclass QueryCount:\n    def __init__(self, get_response):\n        self.get_response = get_response\n\n    def __call__(self, request):\n        start = len(connection.queries)\n        response = self.get_response(request)\n        response['X-Queries'] = str(len(connection.queries) - start)\n        return response\n\n\nclass Mixin(MiddlewareMixin):\n    def process_request(self, request):\n        request.started = 'yes'\n\n    def process_response(self, request, response):\n        response['X-Mixin'] = getattr(request, 'started', 'no')\n        return response\n\n\nclass Timing:\n    def __init__(self, get_response):\n        self.get_response = get_response\n\n    def __call__(self, request):\n        t0 = time.perf_counter()\n        response = self.get_response(request)\n        ms = (time.perf_counter() - t0) * 1000\n        response['X-Request-Duration-Ms'] = 'ok' if ms >= 0 else 'negative'\n        response['Server-Timing'] = 'app;desc=ok'\n        return response\n\n    def process_view(self, request, view_func, view_args, view_kwargs):\n        request.view_name = view_func.__name__\n        return None\n"},
            urls=[("", "home", "home")],
            settings={"MIDDLEWARE": [SESSION_MW, AUTH_MW, "middleware.QueryCount", "middleware.Mixin", "middleware.Timing"]},
            steps=[request("GET", "/"), get("/"), run("from django.db import connection\nlen(connection.queries) >= 0")],
        ),
        # The same header middleware inside and outside the site-wide cache: inside, a cached
        # page carries the header stored with the first response (what lesson 005 teaches).
        *[
            case(
                f"v2_site_cache_and_a_header_middleware_{where}_it",
                'from django.http import HttpResponse\nfrom articles.models import Article\n\n\ndef home(request):\n    return HttpResponse(f"{Article.objects.count()} articles")\n',
                modules={"stamp.py": 'calls = []\n\n\nclass Stamp:\n    def __init__(self, get_response):\n        self.get_response = get_response\n\n    def __call__(self, request):\n        calls.append(request.path)\n        n = len(calls)\n        response = self.get_response(request)\n        response["X-Stamp"] = str(n)\n        return response\n'},
                urls=[("", "home", "home")],
                settings={"MIDDLEWARE": order},
                steps=[request("GET", "/"), request("GET", "/"), request("GET", "/nope/"), request("GET", "/")],
            )
            for where, order in (
                ("inside", [UPDATE_MW, SESSION_MW, AUTH_MW, FETCH_MW, "stamp.Stamp"]),
                ("outside", ["stamp.Stamp", UPDATE_MW, SESSION_MW, AUTH_MW, FETCH_MW]),
            )
        ],
        # Django's default 400/403 pages, then the project's own templates for them.
        *[
            case(
                f"v2_error_pages_403_400_{which}",
                '''
                from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
                from django.http import HttpResponse


                def denied(request):
                    raise PermissionDenied("members only")


                def bad(request):
                    raise BadRequest("the form was <b>broken</b>")


                def suspicious(request):
                    raise SuspiciousOperation("odd")
                ''',
                urls=[("denied/", "denied", "denied"), ("bad/", "bad", "bad"), ("odd/", "suspicious", "odd")],
                templates=templates,
                steps=[request("GET", "/denied/"), request("GET", "/bad/"), request("GET", "/odd/"), request("GET", "/nowhere/")],
            )
            for which, templates in (
                ("default_pages", None),
                ("project_templates", {"403.html": "Denied: {{ exception }}", "400.html": "Bad: [{{ exception }}]"}),
            )
        ],
        case(
            "v2_condition_etag_last_modified_decorators",
            '''
            from django.db.models import Max
            from django.http import HttpResponse
            from django.views.decorators.http import condition, etag, last_modified
            from articles.models import Article


            def latest(request):
                return Article.objects.aggregate(m=Max("created_at"))["m"]


            def count_tag(request):
                return "n%d" % Article.objects.count()


            @condition(etag_func=count_tag, last_modified_func=latest)
            def both(request):
                return HttpResponse(f"{Article.objects.count()} articles")


            @etag(lambda request: '"fixed"')
            def tagged(request):
                return HttpResponse("tagged")


            @last_modified(latest)
            def dated(request):
                return HttpResponse("dated")


            @etag(lambda request: None)
            def untagged(request):
                return HttpResponse("no tag")
            ''',
            urls=[("both/", "both", "both"), ("tagged/", "tagged", "tagged"), ("dated/", "dated", "dated"),
                  ("untagged/", "untagged", "untagged")],
            steps=[
                request("GET", "/both/"),
                request("GET", "/both/", headers={"If-None-Match": '"n60"'}),
                request("GET", "/both/", headers={"If-None-Match": '"other"'}),
                request("GET", "/tagged/", headers={"If-None-Match": 'W/"fixed", "x"'}),
                request("HEAD", "/tagged/", headers={"If-None-Match": "*"}),
                request("POST", "/tagged/", headers={"If-None-Match": '"fixed"'}),
                request("PUT", "/tagged/", headers={"If-Match": '"nope"'}),
                request("PUT", "/tagged/", headers={"If-Match": '"fixed"'}),
                request("GET", "/dated/"),
                request("GET", "/dated/", headers={"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}),
                request("GET", "/dated/", headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
                request("POST", "/dated/", headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
                request("GET", "/untagged/", headers={"If-None-Match": "*"}),
            ],
        ),
        case(
            "v2_locmem_max_entries_and_cull",
            'from django.core.cache import cache, caches\n',
            settings={"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "a",
                                             "TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 3, "CULL_FREQUENCY": 2}}}},
            steps=[{'run': "for i in range(5):\n    cache.set(f'k{i}', i)\nsorted(k for k in [f'k{i}' for i in range(5)] if cache.get(k) is not None)"}, {'advance': 100000}, {'run': "cache.get('k4')"}, {'run': "caches['nope']"}] + [
                run("for i in range(5):\n    cache.set(f'j{i}', i)\n    cache.get('k4')\nsorted(k for k in ['k4'] + [f'j{i}' for i in range(5)] if cache.get(k) is not None)"),
            ],
        ),
        case(
            "v2_post_lists_and_307_303_follow",
            "from django.http import HttpResponse, JsonResponse\n\ndef tags(request):\n    return JsonResponse({'tags': request.POST.getlist('tag'), 'one': request.POST.get('tag'), 'get': request.GET.getlist('q'), 'method': request.method})\n\ndef go(request):\n    from django.http import HttpResponseRedirect\n    r = HttpResponseRedirect('/tags/?q=1&q=2')\n    r.status_code = int(request.GET.get('code', 302))\n    return r\n",
            urls=[('tags/', 'tags', 'tags'), ('go/', 'go', 'go')],
            steps=[{'request': {'method': 'POST', 'path': '/tags/', 'data': {'tag': ['a', 'b']}}}, {'request': {'method': 'POST', 'path': '/go/?code=307', 'data': {'tag': ['z']}, 'follow': True}}, {'request': {'method': 'POST', 'path': '/go/?code=303', 'data': {'tag': ['z']}, 'follow': True}}, {'request': {'method': 'GET', 'path': '/tags/', 'data': {'q': ['1', '2']}, 'headers': {'Accept': 'application/json'}}}, {'request': {'method': 'DELETE', 'path': '/tags/'}}],
        ),
        case(
            "v2_response_header_api",
            'from django.http import HttpResponse, JsonResponse\n\ndef v(request):\n    r = HttpResponse(\'hi\', content_type=\'text/plain\', status=201)\n    r[\'X-A\'] = \'1\'\n    r.headers[\'x-b\'] = \'2\'\n    r.setdefault(\'X-A\', \'no\')\n    r.setdefault(\'X-C\', \'3\')\n    del r[\'x-b\']\n    r.headers.pop(\'X-C\', None)\n    r[\'X-D\'] = f"{r.get(\'x-a\')} {r.get(\'nope\', \'dflt\')} {\'X-A\' in r} {r.has_header(\'x-a\')} {sorted(k for k, _ in r.items())}"\n    return r\n\ndef j(request):\n    return JsonResponse({\'a\': [1, 2]}, status=202)\n\ndef empty(request):\n    return HttpResponse(status=204)\n',
            urls=[('v/', 'v', 'v'), ('j/', 'j', 'j'), ('e/', 'empty', 'e')],
            steps=[{'request': {'method': 'GET', 'path': '/v/'}}, {'request': {'method': 'GET', 'path': '/j/'}}, {'request': {'method': 'GET', 'path': '/e/'}}],
        ),
        case(
            "v2_method_decorator_on_class_based_views",
            "from django.utils.decorators import method_decorator\nfrom django.views.decorators.cache import cache_page, never_cache\nfrom django.views.generic import ListView, TemplateView\nfrom django.http import HttpResponse\nfrom articles.models import Tag\n\n\n@method_decorator(cache_page(60), name='dispatch')\nclass Tags(ListView):\n    model = Tag\n    template_name = 't.html'\n\n\nclass Plain(TemplateView):\n    template_name = 't.html'\n\n    @method_decorator(never_cache)\n    def get(self, request, *args, **kwargs):\n        return HttpResponse(str(Tag.objects.count()))\n\n\ntags = Tags.as_view()\nplain = Plain.as_view()\ncached = cache_page(30)(Tags.as_view())\n",
            templates={"t.html": "{{ tag_list|length }}"},
            urls=[('tags/', 'tags', 'tags'), ('plain/', 'plain', 'plain'), ('cached/', 'cached', 'cached')],
            steps=[{'request': {'method': 'GET', 'path': '/tags/'}}, {'request': {'method': 'GET', 'path': '/tags/'}}, {'request': {'method': 'GET', 'path': '/plain/'}}, {'request': {'method': 'GET', 'path': '/cached/'}}, {'request': {'method': 'GET', 'path': '/cached/'}}],
        ),
        case(
            "v2_test_client_surface",
            TAG_VIEWS,
            templates=TAG_TEMPLATES,
            urls=TAG_URLS,
            tests='''
            from django.test import TestCase
            from django.urls import reverse
            from articles.models import Tag


            class ClientTests(TestCase):
                def test_post_follow_chain(self):
                    r = self.client.post(reverse("tags:new"), {"name": "Zig", "slug": "zig"}, follow=True)
                    self.assertEqual(r.redirect_chain, [("/tags/", 302)])
                    self.assertContains(r, "Zig")

                def test_assert_redirects_followed(self):
                    r = self.client.get("/hop/", follow=True)
                    self.assertRedirects(r, "/tags/", status_code=302, target_status_code=200)

                def test_assert_redirects_wrong_target(self):
                    r = self.client.get("/hop/", follow=True)
                    self.assertRedirects(r, "/tags/new/")

                def test_assert_redirects_not_followed(self):
                    r = self.client.post("/tags/new/", {"name": "A", "slug": "a"})
                    self.assertRedirects(r, "/tags/")

                def test_headers_argument_and_meta_kwargs(self):
                    r = self.client.get("/echo/", headers={"user-agent": "bot"}, HTTP_X_TOKEN="abc")
                    self.assertContains(r, "bot abc")

                def test_methods(self):
                    for method in ("get", "post", "put", "patch", "delete", "head", "options"):
                        r = getattr(self.client, method)("/echo/")
                        self.assertEqual(r.status_code, 200, method)
                    self.assertEqual(self.client.head("/echo/").content, b"")

                def test_not_allowed(self):
                    r = self.client.get("/tags/new/")
                    self.assertEqual(r.status_code, 405)
                    self.assertEqual(r["Allow"], "POST")

                def test_callable_form_of_assert_num_queries(self):
                    self.assertNumQueries(1, self.client.get, "/tags/")

                def test_callable_form_wrong_count(self):
                    self.assertNumQueries(3, self.client.get, "/tags/")

                def test_redirect_loop(self):
                    self.client.get("/loop/", follow=True)
            ''',
            steps=[TEST],
        ),
    ]


def template_callable_cases():
    """Django's Variable calls what it resolves when it is callable (not when it is marked
    do_not_call_in_templates; alters_data or needing arguments makes it invalid)."""
    return [
        case(
            "template_calls_callables_in_the_context",
            '''
            from django.shortcuts import render
            from articles.models import Article, Tag


            def helper():
                return "helped"


            def needs_arg(x):
                return x


            def dangerous():
                return "ran"
            dangerous.alters_data = True


            class Kept:
                do_not_call_in_templates = True
                label = "kept as a class"

                def __init__(self):
                    self.label = "called"


            class Made:
                label = "class attribute"

                def __init__(self):
                    self.label = "an instance"


            def page(request):
                return render(request, "page.html", {
                    "n": Tag.objects.filter(pk__lt=5).count,
                    "first": Article.objects.order_by("id").first,
                    "f": helper, "g": needs_arg, "danger": dangerous,
                    "kept": Kept, "made": Made,
                    "d": {"count": Tag.objects.count},
                    "lst": [helper],
                })
            ''',
            templates={"page.html": "n={{ n }} first={{ first.title }} f={{ f }} g=[{{ g }}] danger=[{{ danger }}] "
                                    "kept={{ kept.label }} made={{ made.label }} d={{ d.count }} lst={{ lst.0 }} "
                                    "{% if n > 3 %}many{% endif %} {{ f|upper }}"},
            urls=[("", "page", "page")],
            steps=[get("/")],
        ),
    ]


def generic_view_cases():
    """django.views.generic: View, TemplateView, RedirectView, ListView, DetailView."""
    views = '''
    from django.views import View
    from django.views.generic import DetailView, ListView, RedirectView, TemplateView
    from django.http import HttpResponse
    from articles.models import Article, Tag


    class Hello(View):
        def get(self, request, *args, **kwargs):
            return HttpResponse(f"hello {kwargs}")

        def post(self, request):
            return HttpResponse("posted")


    class Nothing(View):
        def get(self, request):
            return None


    class About(TemplateView):
        template_name = "about.html"
        extra_context = {"title": "About"}

        def get_context_data(self, **kwargs):
            context = super().get_context_data(**kwargs)
            context["n"] = Tag.objects.count()
            return context


    class Articles(ListView):
        model = Article
        paginate_by = 4
        ordering = ["id"]


    class Tags(ListView):
        queryset = Tag.objects.order_by("-id")
        template_name = "tags.html"
        context_object_name = "tags"


    class Picky(ListView):
        model = Tag
        template_name = "tags.html"
        allow_empty = False

        def get_queryset(self):
            return Tag.objects.filter(name="nothing")


    class ArticleDetail(DetailView):
        model = Article


    class ArticleById(DetailView):
        queryset = Article.objects.select_related("author")
        template_name = "articles/by_id.html"
        context_object_name = "a"


    class NoTemplate(TemplateView):
        pass


    hello = Hello.as_view()
    nothing = Nothing.as_view()
    about = About.as_view()
    articles = Articles.as_view()
    tags = Tags.as_view()
    picky = Picky.as_view()
    detail = ArticleDetail.as_view()
    by_id = ArticleById.as_view()
    no_template = NoTemplate.as_view()
    go = RedirectView.as_view(pattern_name="tags", query_string=True)
    go_url = RedirectView.as_view(url="/articles/%(slug)s/", permanent=True)
    gone = RedirectView.as_view()
    '''
    templates = {
        "about.html": "{{ title }}: {{ n }} tags ({{ view.template_name }})",
        "articles/article_list.html": "{% for a in article_list %}{{ a.title }};{% endfor %} page {{ page_obj.number }}"
                                      " of {{ paginator.num_pages }} {{ is_paginated }} {{ object_list|length }}",
        "tags.html": "{% for t in tags %}{{ t.name }} {% endfor %}{{ tag_list|length }} {{ page_obj }}",
        "articles/article_detail.html": "{{ object.title }} = {{ article.title }}",
        "articles/by_id.html": "{{ a.title }} by {{ a.author.username }}",
    }
    urls = [("hello/", "hello", "hello"), ("hello/<int:n>/", "hello", "hello_n"), ("nothing/", "nothing", "nothing"),
            ("about/", "about", "about"), ("articles/", "articles", "articles"), ("tags/", "tags", "tags"),
            ("picky/", "picky", "picky"), ("articles/<slug:slug>/", "detail", "detail"), ("id/<int:pk>/", "by_id", "by_id"),
            ("no-template/", "no_template", "no_template"), ("go/", "go", "go"), ("go/<slug:slug>/", "go_url", "go_url"),
            ("gone/", "gone", "gone")]
    return [
        case(
            "generic_views_requests",
            views,
            templates=templates,
            urls=urls,
            steps=[
                get("/hello/"), get("/hello/3/"), request("POST", "/hello/"), request("PUT", "/hello/"),
                request("HEAD", "/hello/"), request("OPTIONS", "/hello/"), get("/nothing/"),
                get("/about/"), request("POST", "/about/"),
                get("/articles/"), get("/articles/?page=2"), get("/articles/?page=last"), get("/articles/?page=99"),
                get("/articles/?page=abc"), get("/articles/?page=0"),
                get("/tags/"), get("/picky/"),
                get("/articles/article-1/"), get("/articles/missing/"), get("/id/2/"), get("/id/999/"),
                get("/no-template/"),
                get("/go/?x=1"), get("/go/article-2/"), get("/gone/"), request("POST", "/go/"),
            ],
        ),
        case(
            "generic_views_bad_as_view_arguments",
            '''
            from django.views.generic import ListView
            from articles.models import Tag


            class Tags(ListView):
                model = Tag
            ''',
            steps=[
                run("Tags.as_view(get=1)"),
                run("Tags.as_view(colour='red')"),
                run("Tags.as_view(paginate_by=2).view_class.__name__"),
                run("class Broken(ListView):\n    pass\nBroken().get_queryset()"),
            ],
        ),
    ]


def long_tail_cases():
    """iterator(chunk_size) with prefetches per chunk, reverse(query=, fragment=),
    captureOnCommitCallbacks."""
    return [
        case(
            "iterator_chunks_prefetch_per_chunk",
            '''
            from django.urls import reverse
            from articles.models import Article, Tag
            ''',
            urls=[("articles/", "Article", "articles:list")],
            steps=[
                run("[len(a.tags.all()) for a in Article.objects.order_by('id')[:7].prefetch_related('tags').iterator(chunk_size=3)]"),
                run("[a.title for a in Article.objects.order_by('id')[:3].iterator()]"),
                run("list(Article.objects.prefetch_related('tags').iterator())"),
                run("list(Article.objects.iterator(chunk_size=0))"),
                run("[a.author.username for a in Article.objects.select_related('author').order_by('id')[:2].iterator(chunk_size=1)]"),
                run("[t['name'] for t in Tag.objects.order_by('id').values('name')[:2].iterator(chunk_size=1)]"),
                run("reverse('articles:list', query={'page': 2, 'tag': ['a b', 'c']}, fragment='top')"),
                run("reverse('articles:list', query={})"),
                run("reverse('articles:list', fragment='x')"),
            ],
        ),
        case(
            "boolean_values_and_cases_and_when_parentheses",
            '''
            from django.contrib.auth.models import User
            from django.db.models import Case, Count, F, Q, Value, When
            from articles.models import Article
            ''',
            # Value(True) and a Case of booleans read back as bools (SQLite gives 0/1) and are
            # filtered on as conditions (WHERE CASE … END); a When resolved a second time (an
            # annotation filtered on, or ordered by name without being selected) is
            # parenthesized, one resolved once (in SELECT, a fresh order_by) is not.
            steps=[
                run("list(Article.objects.annotate(d=Value(True)).values_list('d', flat=True).order_by('id')[:2])"),
                run("Article.objects.annotate(d=Value(False)).order_by('id').first().d"),
                run("list(Article.objects.annotate(d=Case(When(status='draft', then=True), default=False)).values_list('d', flat=True).order_by('id')[:4])"),
                run("list(Article.objects.annotate(d=Case(When(status='draft', then=Value(True)), default=Value(False))).filter(d=True).values_list('id', flat=True)[:3])"),
                run("[a.d for a in Article.objects.annotate(d=Case(When(status='draft', then=Value(True)), default=Value(False))).order_by('id')[:3]]"),
                run("list(Article.objects.annotate(d=Case(When(status='draft', then=Value(True)))).values_list('d', flat=True).order_by('id')[:4])"),
                run("list(Article.objects.order_by(Case(When(status='draft', then=Value(0)), default=Value(1)), 'id').values_list('id', flat=True)[:4])"),
                run("list(Article.objects.annotate(k=Case(When(status='draft', then=Value(0)), default=Value(1))).order_by('k', 'id').values_list('id', flat=True)[:4])"),
                run("list(Article.objects.annotate(k=Case(When(status='draft', then=Value('d')), default=Value('p'))).filter(k='d').values_list('id', flat=True)[:3])"),
                run("list(Article.objects.annotate(d=Case(When(status='draft', then=True), default=False)).exclude(d=True).values_list('id', flat=True)[:3])"),
                run("list(Article.objects.annotate(d=Case(When(status='draft', then=True), default=False)).filter(d=False).values_list('id', flat=True)[:3])"),
                run("list(User.objects.annotate(n=Count('articles')).annotate(big=Case(When(n__gt=2, then=True), default=False)).filter(big=True).values_list('id', flat=True)[:3])"),
                run("list(User.objects.annotate(n=Count('articles', filter=Q(articles__status='draft'))).filter(n__gt=0).values_list('id', 'n')[:3])"),
                run("list(Article.objects.filter(Q(status='draft') | Q(id__lt=3)).annotate(d=Value(False)).values('id', 'd')[:2])"),
                run("Article.objects.filter(id=Case(When(status='draft', then=Value(1)), default=Value(2))).count()"),
                run("list(Article.objects.annotate(k=Case(When(status='draft', then=Value(0)), default=Value(1))).order_by('-k', 'id').values_list('id', 'k')[:4])"),
                run("list(Article.objects.annotate(k=Case(When(status='draft', then=Value(0)), default=Value(1))).order_by(F('k').desc(), 'id').values_list('id', flat=True)[:4])"),
                run("list(User.objects.annotate(n=Count('articles', filter=Q(articles__status='draft'))).order_by('-n', 'id').values_list('id', flat=True)[:3])"),
            ],
        ),
        case(
            "query_str_is_the_sql_with_params_as_python_prints_them",
            '''
            from django.contrib.auth.models import User
            from django.db.models import Count
            from articles.models import Article
            from tasks.models import Task
            ''',
            # str(qs.query) is `sql % params`: strings, dates and numbers unquoted.
            steps=[
                run("str(Article.objects.filter(status='draft', id__gt=3).query)"),
                run('str(User.objects.filter(is_staff=True).query)'),
                run("str(User.objects.filter(is_staff=False, username__in=['a', 'b']).query)"),
                run("str(Article.objects.filter(created_at__gte='2024-02-01').query)"),
                run('str(Article.objects.filter(title__icontains="it\'s").values(\'id\').query)'),
                run("str(Article.objects.filter(tags__name='x').annotate(n=Count('tags')).query)"),
                run('print(Article.objects.filter(id=1.5).query)'),
                run('str(Task.objects.filter(assigned_to=None).query)'),
                run("str(Article.objects.filter(status='draft')[:5].query)"),
            ],
        ),
        case(
            "order_by_nulls_first_last_and_in_subquery_ordering",
            '''
            from django.contrib.auth.models import User
            from django.db.models import F
            from django.db.models.functions import Lower
            from articles.models import Article
            from tasks.models import Task
            ''',
            # asc()/desc() with nulls_first/nulls_last (SQLite writes NULLS FIRST/LAST; reverse()
            # swaps them; False or both are refused); a queryset under __in loses its ordering,
            # default or explicit, unless it is sliced.
            steps=[
                run("list(Article.objects.order_by(F('id').desc(nulls_last=True)).values_list('id', flat=True)[:3])"),
                run("list(Task.objects.order_by(F('assigned_to').asc(nulls_last=True), 'id').values_list('id', flat=True)[:5])"),
                run("list(Task.objects.order_by(F('assigned_to').desc(nulls_first=True), 'id').values_list('assigned_to', flat=True)[:5])"),
                run("list(Task.objects.order_by(F('assigned_to').asc(nulls_last=True), 'id').reverse().values_list('assigned_to', flat=True)[:5])"),
                run("list(Task.objects.order_by(F('assigned_to').asc(nulls_first=True, nulls_last=True)))"),
                run("list(Task.objects.order_by(F('assigned_to').asc(nulls_first=False)))"),
                run("list(Task.objects.order_by(Lower('title').desc(nulls_last=True)).values_list('id', flat=True)[:3])"),
                run("list(Article.objects.filter(pk__in=Article.objects.filter(status='draft').values('pk')).values_list('pk', flat=True)[:3])"),
                run("list(Article.objects.filter(pk__in=Article.objects.filter(status='draft').order_by('title')[:4].values('pk')).values_list('pk', flat=True))"),
                run("list(Article.objects.filter(author__in=User.objects.filter(is_staff=True).order_by('username')).values_list('pk', flat=True)[:3])"),
                run("list(Article.objects.filter(pk__in=Article.objects.order_by('title')).values_list('pk', flat=True)[:3])"),
                run("list(Article.objects.exclude(pk__in=Article.objects.filter(status='draft')).values_list('pk', flat=True)[:3])"),
            ],
        ),
        case(
            "nested_prefetch_through_a_foreign_key_in_sqlites_row_order",
            '''
            from articles.models import Article
            from tasks.models import Task
            ''',
            # The first level is `id = a OR id = b …` (Django 5.2's TupleIn on SQLite); SQLite
            # returns its rows ascending or term by term depending on how many terms there are,
            # and the second level's IN list follows those rows.
            steps=[
                run(f"sum(len(a.author.articles.all()) for a in Article.objects.filter(author_id__lte={k}).order_by('title').prefetch_related('author__articles'))")
                for k in (5, 12, 17, 18, 25, 40)
            ] + [
                run("[len(t.assigned_to.articles.all()) for t in Task.objects.order_by('title').prefetch_related('assigned_to__articles__tags') if t.assigned_to][:10]"),
                run("[t.updated_by_id for t in Task.objects.select_related('updated_by').prefetch_related('updated_by__articles').order_by('-created_at')[:30]]"),
            ],
        ),
        case(
            "itertools_count_next_zip_islice_loop",
            '''
            import itertools

            from django.http import HttpResponse
            from articles.models import Tag

            REQUESTS = itertools.count(1)


            def hit(request):
                return HttpResponse(f"request #{next(REQUESTS)}")


            def numbered(request):
                names = Tag.objects.order_by("id").values_list("name", flat=True)[:3]
                return HttpResponse(", ".join(f"{n}. {name}" for n, name in zip(itertools.count(1), names)))
            ''',
            urls=[("hit/", "hit", "hit"), ("numbered/", "numbered", "numbered")],
            steps=[
                get("/hit/"), get("/hit/"), get("/numbered/"), get("/hit/"),
                run("c = itertools.count(5, 2)\n[next(c), next(c), repr(c), repr(itertools.count()), repr(itertools.count(1.5)), repr(itertools.count(0, 1.0))]"),
                run("c = itertools.count(10)\n[list(zip(c, 'ab')), next(c), list(zip('ab', c)), next(c)]"),
                run("c = itertools.count()\n[list(itertools.islice(c, 3)), next(c), list(itertools.islice(c, 2, 8, 3)), next(c), list(itertools.islice(c, 4, 2)), next(c)]"),
                run("out = []\nfor i in itertools.count(3):\n    if i > 6:\n        break\n    out.append(i)\nout"),
                run("c = itertools.count(step=-1)\n[next(c), next(c), [x for x, _ in zip(c, range(3))], next(iter(c)), next(c, 'never')]"),
                run("c = itertools.count(True, 0.5)\n[next(c), next(c), next(c)]"),
                run("itertools.count('a')"),
                run("list(itertools.islice(itertools.count(), -1))"),
                run("list(itertools.islice(itertools.count(), -2, 3))"),
                run("list(itertools.islice(itertools.count(), 1, -3))"),
                run("list(itertools.islice(itertools.count(), 1, 'x'))"),
                run("list(itertools.islice(itertools.count(), 1, 4, 0))"),
                run("list(itertools.islice(itertools.count(), None, 3, None))"),
                run("list(itertools.islice(itertools.count()))"),
            ],
        ),
        case(
            "capture_on_commit_callbacks",
            '''
            from django.db import transaction
            from django.http import HttpResponse
            from articles.models import Tag

            SENT = []


            def publish(request):
                tag = Tag.objects.create(name="new", slug="new")
                transaction.on_commit(lambda: SENT.append(tag.name))
                return HttpResponse("ok")
            ''',
            urls=[("publish/", "publish", "publish")],
            tests='''
            from django.db import transaction
            from django.test import TestCase
            import views


            class OnCommitTests(TestCase):
                def test_captured_not_run(self):
                    with self.captureOnCommitCallbacks() as callbacks:
                        self.client.get("/publish/")
                    self.assertEqual(len(callbacks), 1)
                    self.assertEqual(views.SENT, [])

                def test_captured_and_executed(self):
                    with self.captureOnCommitCallbacks(execute=True) as callbacks:
                        self.client.get("/publish/")
                    self.assertEqual(len(callbacks), 1)
                    self.assertEqual(views.SENT, ["new"])

                def test_nested_registration_runs_too(self):
                    seen = []
                    with self.captureOnCommitCallbacks(execute=True) as callbacks:
                        transaction.on_commit(lambda: transaction.on_commit(lambda: seen.append(2)) or seen.append(1))
                    self.assertEqual((len(callbacks), seen), (2, [1, 2]))

                def test_nothing_sent_without_commit(self):
                    self.client.get("/publish/")
                    self.assertEqual(views.SENT, ["nope"])
            ''',
            steps=[TEST],
        ),
        case(
            "datetimes_and_trunc_functions",
            '''
            from articles.models import Article
            from django.db.models import Count
            from django.db.models.functions import Trunc, TruncMonth, TruncQuarter, TruncWeek
            ''',
            steps=[
                run("Article.objects.datetimes('created_at', 'month')"),
                run("Article.objects.datetimes('created_at', 'year', order='DESC')"),
                run("Article.objects.filter(pk__lt=3).datetimes('created_at', 'day')"),
                run("Article.objects.datetimes('created_at', 'week')"),
                run("list(Article.objects.datetimes('created_at', 'hour'))[:3]"),
                run("Article.objects.datetimes('created_at', 'fortnight')"),
                run("Article.objects.datetimes('created_at', 'day', order='UP')"),
                run("list(Article.objects.annotate(m=TruncMonth('created_at')).values('m').annotate(n=Count('id')).order_by('m'))"),
                run("list(Article.objects.annotate(w=TruncWeek('created_at')).values_list('w', flat=True).distinct().order_by('w'))"),
                run("list(Article.objects.annotate(w=Trunc('created_at', 'minute')).values_list('w', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(w=TruncQuarter('created_at')).values_list('w', flat=True).distinct())"),
                run("Article.objects.datetimes('title', 'day')"),
                run("Article.objects.datetimes('nope', 'day')"),
            ],
        ),
        case(
            "dates_as_date_values",
            '''
            from articles.models import Article
            from django.shortcuts import render


            def page(request):
                return render(request, "p.html", {
                    "ds": Article.objects.dates("created_at", "month"),
                    "d2": Article.objects.filter(pk__lt=4).dates("created_at", "day", order="DESC"),
                })
            ''',
            templates={"p.html": "{% for d in ds %}{{ d }} {{ d|date:'Y-m' }} {{ d.year }};{% endfor %} {% for d in d2 %}{{ d }},{% endfor %}"},
            urls=[("", "page", "page")],
            steps=[
                run("Article.objects.dates('created_at', 'year', order='DESC')"),
                run("Article.objects.dates('created_at', 'week')"),
                run("Article.objects.filter(pk__lt=5).dates('created_at', 'day')"),
                run("d = Article.objects.dates('created_at', 'day')[0]; (str(d), d.year, d.month, d.day, d.isoformat(), d == d, d.weekday())"),
                run("Article.objects.dates('created_at', 'hour')"),
                run("Article.objects.dates('created_at', 'day', order='X')"),
                run("Article.objects.dates('title', 'day')"),
                run("list(Article.objects.dates('created_at', 'month').values_list('datefield', flat=True))"),
                run("sorted(set(Article.objects.filter(pk__lt=5).dates('created_at', 'day')), reverse=True)"),
                get("/"),
            ],
        ),
        case(
            "manager_raw_queryset",
            '''
            from django.template import Context, Template
            from articles.models import Article, Tag
            ''',
            # Manager.raw(): the SQL as written with %s or %(name)s parameters, its repr and
            # query as `sql % params`; rows read once and kept; columns that are not fields
            # become attributes, fields left out are deferred and cost a query each (the N+1 a
            # raw query hides); a foreign key loads lazily; prefetch_related after it; the
            # primary key required; errors as SQLite words them.
            steps=[
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < %s ORDER BY id', [4])\n[a.title for a in qs]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < %s ORDER BY id', [4])\nrepr(qs)"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < %s ORDER BY id', [4])\nlen(qs), qs[0].id, bool(qs), list(qs)[1].title"),
                run("qs = Article.objects.raw('SELECT id, title FROM articles_article WHERE id < 4 ORDER BY id')\n[(a.id, a.title, a.slug) for a in qs]"),
                run("qs = Article.objects.raw('SELECT title FROM articles_article WHERE id < 4')\nlist(qs)"),
                run("qs = Article.objects.raw('SELECT a.id, a.title, u.username AS author_name, COUNT(t.tag_id) AS n FROM articles_article a JOIN auth_user u ON u.id = a.author_id LEFT JOIN articles_article_tags t ON t.article_id = a.id WHERE a.id < 4 GROUP BY a.id ORDER BY a.id')\n[(a.id, a.author_name, a.n) for a in qs]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < 3 ORDER BY id')\n[a.author.username for a in qs]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < 3 ORDER BY id').prefetch_related('tags')\n[len(a.tags.all()) for a in qs]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < 3 ORDER BY id')\nqs.columns, qs.model, str(qs.query)"),
                run("qs = Article.objects.raw('SELECT * FROM nope')\nlist(qs)"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE title = %s', ['Article 1'])\nrepr(qs), [a.id for a in qs]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article ORDER BY id')\n[a.id for a in qs.iterator()][:3]"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article ORDER BY id')\nqs.count()"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < 3 ORDER BY id')\nlist(qs); list(qs); 1"),
                run("qs = Article.objects.raw('SELECT * FROM articles_article WHERE id < 3 ORDER BY id')\nqs[0]; qs[1]; 1"),
                run("qs = Article.objects.raw('SELECT id, created_at FROM articles_article WHERE id < 3 ORDER BY id')\n[(a.created_at, a.status) for a in qs]"),
                run("Tag.objects.raw('SELECT id, name FROM articles_tag WHERE name = %(n)s', {'n': 'tag01'})[0].name"),
                run("Template('{% for a in qs %}{{ a.title }};{% endfor %}').render(Context({'qs': Article.objects.raw('SELECT id, title FROM articles_article WHERE id < 3 ORDER BY id')}))"),
                run("list(Article.objects.raw('SELECT id FROM articles_article WHERE title LIKE %s ORDER BY id', ['%icle 1%']))[:2]"),
                run("list(Article.objects.raw('SELECT * FROM articles_article; SELECT 1'))"),
                run("qs = Article.objects.raw('SELECT id, title, 1 + 1 AS two FROM articles_article WHERE id = 1')\n[(a.two, a.title) for a in qs]"),
                run("qs = Article.objects.raw('SELECT id, title FROM articles_article WHERE id < 3 ORDER BY id')\n[a.title for a in qs]; [a.status for a in qs]; 1"),
            ],
        ),
        case(
            "dict_views_keys_values_items",
            '''
            from collections import Counter
            from django.core.cache import cache
            from django.template import Context, Template
            from articles.models import Article
            ''',
            # A dict's keys()/values()/items() print as dict_keys([…]) and its kin (in_bulk's,
            # get_many's, a Counter's, in a template too), iterate, count, test membership,
            # compare as sets (keys, items), and refuse indexing.
            steps=[
                run('Article.objects.in_bulk([1,2]).keys()'),
                run("d = {'a': 1, 'b': 2}\n(d.keys(), d.values(), d.items())"),
                run("d = {'a': 1, 'b': 2}\n(list(d.keys()), sorted(d.values()), dict(d.items()), len(d.items()), 'a' in d.keys(), 2 in d.values(), ('a', 1) in d.items())"),
                run("d = {'a': 1, 'b': 2}\nd.keys() == {'a', 'b'}, d.keys() == {'b', 'a'}, d.items() == {('a', 1), ('b', 2)}, d.values() == d.values()"),
                run("d = {'a': 1, 'b': 2}\nd.keys()[0]"),
                run("d = {'a': 1, 'b': 2}\n[k for k in d.keys()], [k + str(v) for k, v in d.items()], ', '.join(d.keys()), sum(d.values()), max(d.values())"),
                run("d = {'a': 1, 'b': 2}\nstr(d.keys()), bool({}.keys()), sorted(set(d.keys())), tuple(d.values())"),
                run("Template('{% for k, v in d.items %}{{ k }}={{ v }};{% endfor %}{{ d.keys }}|{{ d.values|length }}').render(Context({'d': {'a': 1, 'b': 2}}))"),
                run("cache.set_many({'a': 1, 'b': 2}); cache.get_many(['a', 'b']).keys()"),
                run("c = Counter('abca'); c.keys(), c.most_common(1)"),
                run('Template(\'{{ d.keys|join:", " }}|{{ d.values|slice:":1" }}|{{ d.items|length }}|{% for v in d.values %}{{ v }}{% endfor %}\').render(Context({\'d\': {\'a\': 1, \'b\': 2}}))'),
                run("Template('{{ d.keys|first }}').render(Context({'d': {'a': 1, 'b': 2}}))"),
            ],
        ),
        case(
            "database_functions_extract_greatest_substr_round",
            '''
            from django.contrib.auth.models import User
            from django.db.models import Count, F, Value
            from django.db.models.functions import (Abs, Coalesce, Extract, ExtractDay, ExtractHour, ExtractIsoWeekDay,
                ExtractIsoYear, ExtractMinute, ExtractMonth, ExtractQuarter, ExtractSecond, ExtractWeek, ExtractWeekDay,
                ExtractYear, Greatest, Least, Left, Length, Lower, LTrim, NullIf, Replace, Right, Round, RTrim, StrIndex,
                Substr, Trim, TruncDate)
            from articles.models import Article
            ''',
            # Extract*/TruncDate as the datetime transforms (django_datetime_extract/_cast_date,
            # and the year lookup's BETWEEN when filtered); Greatest/Least as SQLite's scalar
            # MAX/MIN with Django's type check; Abs, Round (with its precision, a REAL), NullIf,
            # Substr/Left/Right (SUBSTR), Replace, Trim, StrIndex (INSTR); their reprs.
            steps=[
                run("list(Article.objects.annotate(y=ExtractYear('created_at'), m=ExtractMonth('created_at'), d=ExtractDay('created_at'), w=ExtractWeekDay('created_at'), h=ExtractHour('created_at'), q=ExtractQuarter('created_at'), wk=ExtractWeek('created_at'), iw=ExtractIsoWeekDay('created_at'), iy=ExtractIsoYear('created_at'), mi=ExtractMinute('created_at'), s=ExtractSecond('created_at')).values_list('y','m','d','w','h','q','wk','iw','iy','mi','s').order_by('id')[:2])"),
                run("list(Article.objects.annotate(y=ExtractYear('created_at')).values('y').annotate(n=Count('id')).order_by('y'))"),
                run("list(Article.objects.annotate(y=Extract('created_at', 'month')).values_list('y', flat=True).order_by('id')[:3])"),
                run("Article.objects.filter(created_at__year=2024).annotate(y=ExtractYear('created_at')).filter(y=2024).count()"),
                run('list(Article.objects.annotate(d=TruncDate("created_at")).values_list("d").order_by(\'id\')[:2])'),
                run("list(Article.objects.annotate(d=TruncDate('created_at')).values('d').annotate(n=Count('id')).order_by('-d')[:3])"),
                run("list(Article.objects.annotate(g=Greatest('id', 'author_id'), l=Least('id', 'author_id')).values_list('g', 'l').order_by('id')[:3])"),
                run("list(Article.objects.annotate(g=Greatest('title', 'slug')).values_list('g', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(a=Abs(F('id') - 10), r=Round(F('id') / 3.0), r2=Round(F('id') / 3.0, 2)).values_list('a', 'r', 'r2').order_by('id')[:3])"),
                run("list(Article.objects.annotate(n=NullIf('status', Value('draft'))).values_list('n', flat=True).order_by('id')[:4])"),
                run("list(Article.objects.annotate(s=Substr('title', 1, 4), l=Left('title', 3), r=Right('title', 2), s2=Substr('title', 3)).values_list('s', 'l', 'r', 's2').order_by('id')[:2])"),
                run("list(Article.objects.annotate(r=Replace('title', Value('Article'), Value('Post')), r2=Replace('title', Value(' '))).values_list('r', 'r2').order_by('id')[:2])"),
                run("list(Article.objects.annotate(t=Trim(Value('  x ')), l=LTrim(Value('  x ')), r=RTrim(Value('  x ')), i=StrIndex('title', Value('icle'))).values_list('t', 'l', 'r', 'i').order_by('id')[:1])"),
                run("repr(ExtractYear('created_at')), repr(Greatest('id', 'author_id')), repr(Substr('title', 1, 3)), repr(Round('id', 2)), repr(NullIf('a', 'b')), repr(Abs('id'))"),
                run("str(Article.objects.annotate(y=ExtractYear('created_at')).filter(y__gt=2023).values('y').query)"),
                run("list(Article.objects.annotate(y=ExtractYear('title')).values_list('y', flat=True)[:1])"),
                run("Article.objects.annotate(s=Substr('title', 0)).values_list('s', flat=True)[:1]"),
                run("list(Article.objects.filter(title__startswith='Art').annotate(l=Left('title', 3)).values('l').annotate(n=Count('id')).order_by('l'))"),
                run("list(User.objects.annotate(last=Greatest('last_login', 'date_joined')).values_list('last', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(g=Greatest('author_id', 'id')).values_list('g', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(y=ExtractYear('created_at')).filter(y=2024).values_list('id', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(m=ExtractMonth('created_at')).filter(m__in=[1, 2]).values_list('id', flat=True).order_by('id')[:2])"),
                run("repr(Lower('title')), repr(Length('title')), repr(Coalesce('title', Value('x')))"),
                run("list(Article.objects.annotate(r=Round('id')).values_list('r', flat=True).order_by('id')[:2])"),
            ],
        ),
        case(
            "union_intersection_difference",
            '''
            from django.db.models import Count
            from articles.models import Article, Tag
            ''',
            # Compound statements on SQLite: the queries joined by UNION [ALL] / INTERSECT /
            # EXCEPT without parentheses (so none may be ordered — Meta.ordering counts — or
            # sliced); columns aliased col1… (or by values() names), the whole ordered by
            # those aliases or positions and sliced; count() over a subquery, exists() asking
            # each query of a union for 1; none() and empty filters dropping out; the methods
            # Django refuses after a combinator; rows read back as instances, dicts, tuples.
            steps=[
                run('list(Article.objects.filter(id__lt=3).union(Article.objects.filter(id__gt=198)))'),
                run('qs = Article.objects.filter(id__lt=3).order_by().union(Article.objects.filter(id__gt=198).order_by())\nlist(qs)'),
                run("list(Article.objects.filter(id__lt=3).order_by().union(Article.objects.filter(id__gt=198).order_by()).order_by('-id'))"),
                run("list(Article.objects.values_list('id', flat=True).filter(id__lt=3).order_by().union(Article.objects.values_list('id', flat=True).filter(id__gt=198).order_by(), all=True).order_by('id'))"),
                run('list(Article.objects.filter(id__lt=5).order_by().intersection(Article.objects.filter(id__gt=2).order_by()))'),
                run('list(Article.objects.filter(id__lt=5).order_by().difference(Article.objects.filter(id__gt=2).order_by()))'),
                run('Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).count()'),
                run("list(Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).order_by('id')[:3])"),
                run('Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).filter(id=3)'),
                run('Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).exists()'),
                run('Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).first()'),
                run('list(Article.objects.filter(id__lt=5).order_by().union(Article.objects.none()))'),
                run("list(Article.objects.values('id','title').filter(id__lt=3).order_by().union(Tag.objects.values('id','name').order_by()).order_by('id')[:4])"),
                run("str(Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).order_by('title').query)"),
                run("list(Article.objects.only('id').filter(id__lt=3).order_by().union(Article.objects.only('id').filter(id__gt=198).order_by()))"),
                run('Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).get(id=3)'),
                run("list(Article.objects.filter(id__lt=5).order_by().union(Article.objects.filter(id__gt=195).order_by()).select_related('author'))"),
                run('len(Article.objects.filter(id__lt=3).order_by().union(Article.objects.filter(id__gt=198).order_by(), Article.objects.filter(id=100).order_by()))'),
                run("list(Article.objects.filter(id__lt=3).order_by().union(Article.objects.filter(id__gt=198).order_by()).values_list('id', flat=True))"),
                run("list(Article.objects.annotate(n=Count('tags')).filter(id__lt=3).order_by().union(Article.objects.annotate(n=Count('tags')).filter(id__gt=198).order_by()).order_by('-n', 'id').values_list('id','n'))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\nlist(a.union(b).order_by('-id')[1:3])"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\na.union(b).last()'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\na.union(b).order_by('id').reverse()[0]"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\na.union(b) | a'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\nc = Article.objects.filter(id=30).order_by()\nlist(a.union(b).union(c).order_by('id').values_list('id', flat=True))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\nc = Article.objects.filter(id=30).order_by()\nsorted(a.union(b, c).values_list('id', flat=True))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(Article.objects.none().union(a).values_list('id', flat=True))"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nlist(Article.objects.none().union(Article.objects.none()))'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(id__gt=57).order_by()\nlist(Article.objects.none().union(a, b).order_by('id').values_list('id', flat=True))"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nlist(a.intersection(Article.objects.none()))'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.difference(Article.objects.none()).values_list('id', flat=True))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.union(Article.objects.filter(id__in=[]).order_by()).values_list('id', flat=True))"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nlist(Article.objects.filter(id__in=[]).order_by().difference(a))'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.intersection(Article.objects.filter(id__gt=2).order_by()).exists()'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(a, all=True).count()'),
                run('a = Article.objects.filter(id__lt=4).order_by()\nlen(a.union(a, all=True))'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(a, foo=1)'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.intersection(a, all=True)'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(1)'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.union().values_list('id', flat=True))"),
                run('a = Article.objects.filter(id__lt=2).order_by()\na.union(a).get()'),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(a).get()'),
                run("a = Article.objects.filter(id__lt=4).order_by()\na.union(a).order_by('id').annotate(n=Count('id'))"),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(a).exclude(id=1)'),
                run("a = Article.objects.filter(id__lt=4).order_by()\na.union(a).prefetch_related('tags')"),
                run("a = Article.objects.filter(id__lt=4).order_by()\na.union(a).update(title='x')"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.union(a).order_by('title').values_list('title', flat=True))"),
                run("a = Article.objects.values('id', 'title').filter(id__lt=3).order_by()\nb = Article.objects.values('id', 'title').filter(id__gt=58).order_by()\nlist(a.union(b).order_by('-title'))"),
                run("a = Article.objects.values_list('id', 'title').filter(id__lt=3).order_by()\nb = Article.objects.values_list('id', 'title').filter(id__gt=58).order_by()\nlist(a.union(b).order_by('-id'))"),
                run("a = Article.objects.annotate(n=Count('tags')).values('id', 'n').filter(id__lt=3).order_by()\nb = Article.objects.annotate(n=Count('tags')).values('id', 'n').filter(id__gt=58).order_by()\nlist(a.union(b).order_by('-n', 'id'))"),
                run("from django.contrib.auth.models import User\na = User.objects.filter(id__lt=3).values_list('username', flat=True)\nb = Tag.objects.filter(id__lt=3).values_list('name', flat=True)\nsorted(a.union(b))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(status='draft').order_by()\n[x.id for x in a.union(b).order_by('-created_at')[:3]]"),
                run("a = Article.objects.filter(author__username='user001').order_by()\nb = Article.objects.filter(tags__name='tag01').order_by()\nlist(a.union(b).order_by('id').values_list('id', flat=True))[:5]"),
                run("a = Article.objects.filter(id__lt=4).order_by()\n[x.author.username for x in a.union(a).order_by('id')]"),
                run('a = Article.objects.filter(id__lt=4).order_by()\nstr(a.union(a).query)'),
                run("a = Article.objects.filter(id__lt=4).order_by()\nrepr(a.union(a).order_by('id'))"),
                run('a = Article.objects.filter(id__lt=4).order_by()\na.union(a).query.combinator'),
                run("a = Article.objects.filter(id__lt=4).order_by()\na.union(a).ordered, a.union(a).order_by('id').ordered"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nb = Article.objects.filter(status='draft').order_by()\nfrom django.template import Template, Context\nTemplate('{% for x in qs %}{{ x.id }}:{{ x.author.username }} {% endfor %}|{{ qs|length }}').render(Context({'qs': a.union(b).order_by('id')[:4]}))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nfrom django.template import Template, Context\nTemplate('{{ qs.count }} {% for x in qs %}{{ x.id }}{% endfor %} {{ qs.exists }}').render(Context({'qs': a.union(a)}))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\n[x.id for x in a.union(a).order_by('id').iterator()]"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nqs = a.union(a).order_by('id')\nlist(qs); list(qs); len(qs)"),
                run("from django.core.paginator import Paginator\na = Article.objects.filter(id__lt=8).order_by()\np = Paginator(a.union(Article.objects.filter(id__gt=55).order_by()).order_by('id'), 5)\n[x.id for x in p.page(2)], p.count, p.num_pages"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.union(a).order_by('id').values('id', 'title'))"),
                run("a = Article.objects.filter(id__lt=4).order_by()\nlist(a.union(a).order_by('id').values_list('id', 'author__username'))"),
                run("a = Article.objects.filter(id__lt=4).only('id', 'title').order_by()\n[(x.id, x.title) for x in a.union(a).order_by('id')]"),
                run("a = Article.objects.filter(id__lt=4).select_related('author').order_by()\n[(x.id, x.author.username) for x in a.union(a).order_by('id')]"),
                run("a = Article.objects.filter(id__lt=4).prefetch_related('tags').order_by()\n[(x.id, len(x.tags.all())) for x in a.union(a).order_by('id')]"),
                run("a = Article.objects.filter(id__lt=4).order_by('id')\na.union(a).count()"),
                run('Article.objects.filter(id__lt=4)[:2].union(Article.objects.all()).count()'),
            ],
        ),
        case(
            "output_fields_expression_wrapper_cast_and_aggregate_defaults",
            '''
            from django.db import connection
            from django.db.models import (Avg, BooleanField, Case, CharField, Count, DateField, DateTimeField,
                ExpressionWrapper, F, FloatField, IntegerField, Max, PositiveIntegerField, Q, Sum, Value, When)
            from django.contrib.auth.models import User
            from django.db.models.functions import Cast, Coalesce, Concat, Lower
            from django.test.utils import CaptureQueriesContext
            from articles.models import Article
            ''',
            # output_field= on Value, Case, aggregates and functions; ExpressionWrapper around
            # arithmetic, aggregates and a Q; Cast to each SQLite type (dates through date() and
            # strftime()); the values read back as the field says (floats, bools, dates);
            # Django's type errors for arithmetic and mixed types without an output_field;
            # aggregate defaults as COALESCE (and with no query at all); % as SQLite's operator.
            steps=[
                run("list(Article.objects.annotate(d=ExpressionWrapper(F('id') * 2, output_field=IntegerField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(F('id') / 2.0, output_field=FloatField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(F('id') * 2, output_field=FloatField())).values_list('d', flat=True).order_by('id')[:2])"),
                run("str(Article.objects.annotate(d=ExpressionWrapper(F('id') + 1, output_field=IntegerField())).filter(d__gt=5).query)"),
                run("repr(ExpressionWrapper(F('id') + 1, output_field=IntegerField())), repr(ExpressionWrapper(Q(id=1), output_field=BooleanField())), repr(IntegerField()), repr(CharField(max_length=3))"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(Q(status='draft'), output_field=BooleanField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("str(Article.objects.annotate(d=ExpressionWrapper(Q(status='draft') | Q(id__lt=3), output_field=BooleanField())).filter(d=True).values('d').query)"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(Q(status='draft'), output_field=BooleanField())).filter(d=True).values_list('id', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(~Q(status='draft'), output_field=BooleanField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(Q(id__in=[]), output_field=BooleanField())).values_list('d', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(Q(author__username='user001'), output_field=BooleanField())).values_list('id', 'd').order_by('id')[:2])"),
                run("list(Article.objects.annotate(n=ExpressionWrapper(Count('tags') * 10, output_field=IntegerField())).values_list('id', 'n').order_by('id')[:3])"),
                run("Article.objects.aggregate(n=ExpressionWrapper(Sum('id') * 2, output_field=IntegerField()))"),
                run("list(Article.objects.values('author').annotate(r=ExpressionWrapper(Count('id') * 1.0 / 3, output_field=FloatField())).order_by('author')[:2])"),
                run("list(Article.objects.annotate(d=ExpressionWrapper(Value(3), output_field=CharField())).values_list('d', flat=True)[:1])"),
                run("[str(Article.objects.annotate(d=Cast('id', f)).values('d').query).split(' FROM')[0] for f in [IntegerField(), PositiveIntegerField(), FloatField(), CharField(), CharField(max_length=5), BooleanField(), DateField(), DateTimeField()]]"),
                run("list(Article.objects.annotate(d=Cast('id', output_field=CharField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=Cast('created_at', DateField())).values_list('d', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(d=Cast('created_at', DateTimeField())).values_list('d', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(d=Cast('created_at', IntegerField())).values_list('d', flat=True).order_by('id')[:2])"),
                run("list(Article.objects.annotate(d=Cast(F('id') * 1.5, IntegerField())).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.values('author').annotate(r=Cast(Count('id'), FloatField()) / 3).order_by('author')[:2])"),
                run("list(Article.objects.annotate(d=Value('5', output_field=IntegerField())).values_list('d', flat=True)[:1])"),
                run("list(Article.objects.annotate(d=Value('abc', output_field=IntegerField())).values_list('d', flat=True)[:1])"),
                run("list(Article.objects.annotate(d=Count('id', output_field=FloatField())).values_list('d', flat=True)[:1])"),
                run("Article.objects.aggregate(m=Max('id', output_field=FloatField()), s=Sum('id', output_field=CharField()), a=Avg('id', output_field=FloatField()))"),
                run("list(Article.objects.annotate(n=Case(When(status='draft', then=1), default=0, output_field=IntegerField())).values_list('n', flat=True).order_by('id')[:3])"),
                run("repr(Case(When(id=1, then=1), default=0, output_field=IntegerField()))"),
                run("Article.objects.annotate(x=Case(When(id=1, then=Value('a')), default=Value(2))).values_list('x', flat=True)[0]"),
                run("Article.objects.annotate(x=Case(When(id=1, then=Value('a')), default=Value(2), output_field=CharField())).values_list('x', flat=True)[0]"),
                run("Article.objects.annotate(x=Coalesce('title', Value(2), output_field=CharField())).values_list('x', flat=True)[0]"),
                run("Article.objects.annotate(x=Coalesce('id', 'title')).values_list('x', flat=True)[0]"),
                run("list(Article.objects.annotate(c=Lower('title', output_field=CharField())).values_list('c', flat=True).order_by('id')[:2])"),
                run("Article.objects.annotate(x=F('id') * F('title')).values_list('x', flat=True)[0]"),
                run("Article.objects.annotate(x=ExpressionWrapper(F('id') * F('title'), output_field=IntegerField())).values_list('x', flat=True)[0]"),
                run("list(Article.objects.annotate(d=F('title') + 1).values_list('d', flat=True)[:1])"),
                run("list(Article.objects.annotate(d=F('id') ** 2.0).values_list('d', flat=True)[:1])"),
                run("list(Article.objects.annotate(d=F('id') + F('author_id')).values_list('d', flat=True).order_by('id')[:3])"),
                run("list(Article.objects.annotate(d=F('id') * 2.0).values_list('d', flat=True).order_by('id')[:2])"),
                run("str(Article.objects.annotate(d=F('id') * 1.5).filter(d__gt=5).values('id').query)"),
                run("list(Article.objects.annotate(d=F('id') % 3).values_list('d', flat=True).order_by('id')[:4])"),
                run("with CaptureQueriesContext(connection) as c:\n    list(Article.objects.annotate(d=F('id') % F('author_id')).values_list('d', flat=True)[:1])\nc.captured_queries[0]['sql']"),
                run("Article.objects.aggregate(s=Sum('id', default=0), m=Max('id', default=-1))"),
                run("Article.objects.filter(id__gt=10000).aggregate(s=Sum('id', default=0), m=Max('id', default=-1), a=Avg('id', default=0))"),
                run("Article.objects.none().aggregate(s=Sum('id', default=7), c=Count('id'))"),
                run("list(Article.objects.annotate(s=Sum('tags__id', default=0)).values_list('id', 's').order_by('id')[:3])"),
                run("Article.objects.aggregate(Sum('id', default=0))"),
                run("Article.objects.aggregate(c=Count('id', default=0))"),
                # The type errors come when the query is compiled (the annotation selected), not
                # when it is built; count() and exists() do not select it.
                run("qs = Article.objects.annotate(x=F('id') * F('title'))\n'built'"),
                run("qs = Article.objects.annotate(x=F('id') * F('title'))\nqs.count()"),
                run("qs = Article.objects.annotate(x=F('id') * F('title'))\nlist(qs[:1])"),
                run("qs = Article.objects.alias(x=F('id') * F('title'))\nlist(qs.values_list('id', flat=True)[:1])"),
                run("qs = Article.objects.annotate(x=Concat('title', 'id'))\nlen(str(qs.query)) > 0"),
                run("qs = Article.objects.annotate(x=F('id') * F('title'))\nqs.filter(x=1)"),
                run("qs = Article.objects.annotate(x=F('id') * F('title'))\nqs.exists()"),
                run("qs = Article.objects.annotate(x=Case(When(id=1, then=Value('a')), default=Value(2)))\nqs.values('id')[:1]"),
                run("Article.objects.annotate(x=Concat('title', Value(' #'), 'id', output_field=CharField())).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Concat('title', 'id')).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Concat('title', Value(' '), 'slug')).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Concat('title', Value(1))).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.filter(title=Concat(Value('Article '), 'id')).count()"),
                run("User.objects.annotate(x=Concat('username', Value(' <'), 'email', Value('>'))).values_list('x', flat=True).order_by('id')[0]"),
                run("User.objects.annotate(x=Concat('email', Value(' '), 'username')).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Coalesce('slug', 'title')).values_list('x', flat=True).order_by('id')[0]"),
                run("User.objects.annotate(x=Coalesce('id', 0)).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Coalesce('author', 0)).values_list('x', flat=True).order_by('id')[0]"),
                run("Article.objects.annotate(x=Coalesce(0, 'author')).values_list('x', flat=True).order_by('id')[0]"),
                run("User.objects.annotate(x=F('id') + F('is_staff')).values_list('x', flat=True).order_by('id')[0]"),
                run("User.objects.annotate(x=F('id') * 2.5).values_list('x', flat=True).order_by('id')[0]"),
            ],
        ),
    ]


def all_cases(examples_file):
    with open(examples_file, encoding="utf-8") as f:
        examples = json.load(f)
    cases = (examples + n_plus_one_cases() + cache_page_cases() + low_level_cache_cases() + fragment_cases()
             + signal_cases() + write_cases() + transaction_cases() + view_cases() + pagination_cases()
             + testing_cases() + queryset_cases() + index_cases() + clock_cases() + error_cases()
             + class_name_cases() + request_cases() + template_callable_cases() + generic_view_cases()
             + long_tail_cases())
    names = [c["name"] for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate case names: {sorted(dupes)}")
    return cases


def dumps(cases):
    return json.dumps(cases, indent=1, ensure_ascii=False) + "\n"


def default_examples_file():
    for c in (os.environ.get("SAMPLE_APP_DIR"), HERE.parents[1].parent / "shared" / "sample_app",
              "/work/shared/sample_app"):
        if c and (Path(c) / "project_examples.json").exists():
            return Path(c) / "project_examples.json"
    raise SystemExit("shared/sample_app/project_examples.json not found; set SAMPLE_APP_DIR")


def write_expectations(django_output):
    """project_expectations.json from a django_run_project.py output on the default seed."""
    from differential_common import summarize_case

    with open(django_output, encoding="utf-8") as f:
        results = json.load(f)
    expected = {r["name"]: summarize_case(r) for r in results}
    EXPECTATIONS_FILE.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote the outcomes of {len(expected)} cases to {EXPECTATIONS_FILE}")


def main(argv=None):
    p = argparse.ArgumentParser(description="Write project_cases.json (and project_expectations.json).")
    p.add_argument("--expectations", metavar="DJANGO_OUTPUT_JSON",
                   help="also rewrite project_expectations.json from this django_run_project.py output "
                        "(made with the new project_cases.json on seed.py's default data set)")
    args = p.parse_args(argv)
    cases = all_cases(default_examples_file())
    CASES_FILE.write_text(dumps(cases), encoding="utf-8")
    print(f"wrote {len(cases)} cases to {CASES_FILE}")
    if args.expectations:
        write_expectations(args.expectations)


if __name__ == "__main__":
    main()
