#!/usr/bin/env python3
"""Trunk post-build hook (Trunk.toml): makes the staged site safe to cache and to lock down.

Trunk names the UI's files by content hash but not the engine worker's, and it starts the UI
with an inline <script>. This step, on $TRUNK_STAGING_DIR before Trunk moves it to dist/:

1. renames the engine worker's three files and the page's boot script to content-hashed names
   (a redeploy can never be served a stale engine from a cache), rewriting the loader;
2. moves Trunk's inline start script into a hashed file, so the page needs no inline script;
3. writes the Content-Security-Policy into index.html (scripts from the site only, wasm allowed,
   no inline styles or scripts) and tells the page where the engine worker is (a <meta>);
4. writes sw.js, the service worker, with the list of versioned files to keep offline.

Run by hand on a built site: TRUNK_STAGING_DIR=dist python3 .ci/finish_dist.py
"""
import hashlib
import json
import os
import re
import sys

# What the page may load. 'wasm-unsafe-eval' lets it compile WebAssembly and nothing else
# eval-like; workers come from the site; no inline script or style anywhere.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> None:
    stage = os.environ.get("TRUNK_STAGING_DIR") or sys.exit("TRUNK_STAGING_DIR is not set (run by Trunk's post_build hook)")
    source = os.environ.get("TRUNK_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = lambda name: os.path.join(stage, name)
    read = lambda name: open(path(name), "rb").read()

    def rename(old: str, new: str) -> None:
        os.replace(path(old), path(new))

    # 1. The engine worker: wasm, then its JS glue, then the loader that names both.
    wasm = read("engine_worker_bg.wasm")
    h = digest(wasm)
    wasm_name = f"engine_worker-{h}_bg.wasm"
    rename("engine_worker_bg.wasm", wasm_name)
    js_name = f"engine_worker-{digest(read('engine_worker.js'))}.js"
    rename("engine_worker.js", js_name)
    loader = read("engine_worker_loader.js").decode()
    if "./engine_worker.js" not in loader or "./engine_worker_bg.wasm" not in loader:
        sys.exit(f"finish_dist: Trunk's worker loader changed shape: {loader!r}")
    loader = loader.replace("./engine_worker.js", f"./{js_name}").replace("./engine_worker_bg.wasm", f"./{wasm_name}")
    loader_name = f"engine_worker_loader-{digest(loader.encode())}.js"
    with open(path(loader_name), "w") as f:
        f.write(loader)
    os.remove(path("engine_worker_loader.js"))

    html = read("index.html").decode()

    # The boot script (public/boot.js) gets a versioned name too.
    boot = read("boot.js")
    boot_name = f"boot-{digest(boot)}.js"
    rename("boot.js", boot_name)
    if 'src="./boot.js"' not in html:
        sys.exit("finish_dist: index.html does not load ./boot.js")
    html = html.replace('src="./boot.js"', f'src="./{boot_name}"')

    # `trunk serve` appends its autoreload script inline, with placeholders it fills in when it
    # serves the page; the CSP would block it, so it goes (.ci/serve passes --no-autoreload).
    autoreload = re.findall(r"<script>\s*\"use strict\";.*?__TRUNK_ADDRESS__.*?</script>", html, re.S)
    for script in autoreload:
        html = html.replace(script, "")
        print("finish_dist: removed trunk serve's inline autoreload script (the Content-Security-Policy would block it)")

    # 2. Trunk's inline start script becomes a file.
    inline = re.findall(r'<script type="module">(.*?)</script>', html, re.S)
    if len(inline) != 1:
        sys.exit(f"finish_dist: expected Trunk's one inline start script in index.html, found {len(inline)}")
    start = inline[0].strip() + "\n"
    start_name = f"start-{digest(start.encode())}.js"
    with open(path(start_name), "w") as f:
        f.write(start)
    html = html.replace(f'<script type="module">{inline[0]}</script>', f'<script type="module" src="./{start_name}"></script>')

    # 3. The policy and the engine's address, first thing in <head>.
    head = (f'<meta http-equiv="Content-Security-Policy" content="{CSP}" />\n'
            f'    <meta name="engine-worker" content="./{loader_name}" data-wasm="./{wasm_name}" />\n    ')
    html = html.replace('<meta charset="utf-8" />\n    ', '<meta charset="utf-8" />\n    ' + head, 1)
    if 'name="engine-worker"' not in html:
        sys.exit("finish_dist: could not place the CSP in index.html's <head>")
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) or re.search(r"\son[a-z]+=", html):
        sys.exit("finish_dist: index.html still has an inline script or event handler, which the CSP would block")
    with open(path("index.html"), "w") as f:
        f.write(html)

    # 4. The service worker: every versioned file, and a cache name that changes with them.
    assets = sorted(n for n in os.listdir(stage) if n not in ("index.html", "sw.js") and os.path.isfile(path(n)))
    version = digest("".join(assets).encode())
    template = open(os.path.join(source, "public", "sw.js")).read()
    if "__VERSION__" not in template or "__ASSETS__" not in template:
        sys.exit("finish_dist: public/sw.js lacks its __VERSION__ / __ASSETS__ placeholders")
    sw = template.replace("__VERSION__", json.dumps(version)).replace("__ASSETS__", json.dumps(assets))
    with open(path("sw.js"), "w") as f:
        f.write(sw)
    print(f"finish_dist: engine {wasm_name}, start {start_name}, {len(assets)} files cached offline as version {version}")


if __name__ == "__main__":
    main()
