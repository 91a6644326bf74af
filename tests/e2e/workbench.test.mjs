// The workbench as a learner uses it: results in tabs with their counts (remembered per lab,
// reachable from the keyboard), the split between text and lab (dragged, remembered), and
// every lesson fitting a 360 px phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch } from './harness.mjs';
import { open, get, step, tab, lessonLinks } from './lab_helpers.mjs';

let server, browser;
before(async () => { server = await serveDist(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const chosen = (page) => page.locator('[data-testid=result-tab][aria-selected=true]').getAttribute('data-tab');
const count = (page, t) => page.locator(`[data-testid=result-tab][data-tab=${t}] [data-testid=tab-count]`).textContent();
const visiblePanels = (page) => page.locator('[data-testid=result-panel]:visible').evaluateAll((ps) => ps.map((p) => p.dataset.panel));

test('results are tabs with counts: SQL holds the query log, the chosen tab is remembered per lab, Alt+digit and arrows move', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'n-plus-one');
  const r = await get(page, '/');
  assert.ok(r.queries > 2, `the N+1 page sends ${r.queries} queries`);
  // The summary stays above the bar; one panel is shown, Response first.
  assert.equal(await chosen(page), 'response');
  assert.deepEqual(await visiblePanels(page), ['response']);
  assert.equal(await count(page, 'sql'), String(r.queries), 'the SQL tab carries the query count');
  assert.equal(await count(page, 'response'), '200');
  assert.equal(await page.locator('[data-testid=step-detail] [data-testid=query]:visible').count(), 0, 'the query log waits in its tab');
  await tab(page, 'sql');
  assert.deepEqual(await visiblePanels(page), ['sql']);
  assert.equal(await page.locator('[data-testid=step-detail] [data-testid=query]:visible').count(), r.queries);
  // Headed as Django Debug Toolbar heads it: count and time, similar groups, duplicates.
  assert.match(await page.locator('[data-testid=step-detail] [data-testid=sql-summary]').textContent(), new RegExp(`^${r.queries} queries in [\\d.]+ ms · 2 groups of similar queries \\(40 queries\\) · \\d+ duplicates?$`));
  // Keyboard: Alt+3 is the third tab (Cache); the arrows move along the bar, focus with them.
  await page.keyboard.press('Alt+3');
  assert.equal(await chosen(page), 'cache');
  await page.locator('[data-testid=result-tab][data-tab=cache]').focus();
  await page.keyboard.press('ArrowLeft');
  assert.equal(await chosen(page), 'sql');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.tab), 'sql');
  // Another request keeps the learner's tab; so does coming back to the lab.
  await get(page, '/');
  assert.equal(await chosen(page), 'sql');
  await page.reload();
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
  assert.equal(await chosen(page), 'sql', 'the chosen tab is remembered for this lab');
  // Another lab has its own choice.
  const other = await open(ctx, server.base, 'fast-enough');
  assert.equal(await chosen(other.page), 'response');
  assert.deepEqual([...errors, ...other.errors], []);
  await ctx.close();
});

test('Run tests brings the Tests tab forward with passed/total; a shell line shows its output', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'query-count-tests');
  await step(page, () => page.locator('[data-testid=run-tests]').click(), 120_000);
  assert.equal(await chosen(page), 'tests');
  const rows = page.locator('[data-testid=test-result]:visible');
  const total = await rows.count();
  assert.ok(total >= 1);
  const passed = await page.locator('[data-testid=test-result][data-outcome=pass]').count();
  assert.equal(await count(page, 'tests'), `${passed}/${total}`);
  await page.locator('[data-testid=shell]').fill('Task.objects.count()');
  await step(page, () => page.locator('[data-testid=run-shell]').click());
  assert.equal(await chosen(page), 'response');
  assert.match(await page.locator('[data-testid=result-tab][data-tab=response]').textContent(), /^Output/);
  assert.match(await page.locator('[data-testid=shell-output]:visible').textContent(), /^\d+/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the split between the text and the lab is dragged, moved by keys, remembered, and reset by a double click', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'cache-page');
  const proseWidth = async () => (await page.locator('.prose').boundingBox()).width;
  const start = await proseWidth();
  const handle = await page.locator('[data-testid=splitter]').boundingBox();
  assert.ok(handle && handle.width > 0, 'the handle is shown at 1280 px');
  const x = handle.x + handle.width / 2, y = handle.y + 200;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x - 120, y, { steps: 4 });
  await page.mouse.up();
  const dragged = await proseWidth();
  assert.ok(Math.abs(dragged - (start - 120)) < 12, `dragged 120 px left: ${start} → ${dragged}`);
  // The lab took the room: Send is further left.
  await page.locator('[data-testid=splitter]').focus();
  await page.keyboard.press('ArrowRight');
  const keyed = await proseWidth();
  assert.ok(Math.abs(keyed - (dragged + 32)) < 4, `ArrowRight widens the text by 32 px: ${dragged} → ${keyed}`);
  // Remembered: another lesson opens with the same split.
  const other = await open(ctx, server.base, 'indexes');
  assert.ok(Math.abs((await other.page.locator('.prose').boundingBox()).width - keyed) < 4, 'the split is remembered');
  await other.page.locator('[data-testid=splitter]').dblclick();
  assert.ok(Math.abs((await other.page.locator('.prose').boundingBox()).width - start) < 4, 'a double click goes back to the default');
  assert.deepEqual([...errors, ...other.errors], []);
  await ctx.close();
});

test('at 360 px no lesson is wider than the phone once its lab has loaded, on any result tab', async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const errors = [];
  const hrefs = await lessonLinks(ctx, server.base, errors);
  const wide = [];
  const measure = (p) => p.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const over = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1 && e.getClientRects().length
      && !e.closest('[hidden]') && getComputedStyle(e).position !== 'fixed'
      // Content that scrolls inside its own box does not widen the page.
      && !(() => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) { if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return true; } return false; })())
      // Only the outermost offender: its children overflow with it.
      .filter((e, _, all) => !all.includes(e.parentElement));
    return { scroll: document.documentElement.scrollWidth, width: w, over: over.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 40)}"`) };
  });
  for (const href of hrefs) {
    const slug = href.replace('#/lessons/', '');
    const p = await ctx.newPage();
    p.on('pageerror', (e) => errors.push(`${slug}: ${e}`));
    await p.goto(`${server.base}/${href}`);
    await p.locator('h1').first().waitFor();
    const isLab = (await p.locator('section.lab').count()) > 0;
    if (isLab) {
      await p.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
      await step(p, () => p.locator('[data-testid=send]').click());
    }
    // Every tab of the lab: the scroll width alone (cheap); the offenders named once.
    const tabs = isLab ? await p.locator('[data-testid=result-tab]').evaluateAll((ts) => ts.map((t) => t.dataset.tab)) : [null];
    for (const t of tabs) {
      if (t) await p.locator(`[data-testid=result-tab][data-tab=${t}]`).click();
      const scroll = await p.evaluate(() => document.documentElement.scrollWidth);
      if (scroll > 360) {
        const m = await measure(p);
        wide.push(`${slug}${t ? ` (${t} tab)` : ''}: ${m.scroll} px (${m.over.join(', ')})`);
        break;
      }
    }
    await p.close();
  }
  assert.deepEqual(wide, [], 'lessons wider than a 360 px phone');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the Profile tab: on the N+1 page the template line {{ a.author.username }} holds 20 queries and comes first, in the table, line by line and in the gutter; after the fix it is gone, the view line holds the 2 queries, and the kept profile shows the difference per line', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'n-plus-one');
  const before = await get(page, '/');
  assert.equal(before.queries, 41);
  await tab(page, 'profile');
  const top = page.locator('[data-testid=profile-line]').first();
  assert.match(await top.locator('code').textContent(), /\{\{ a\.author\.username \}\}/);
  assert.equal(await top.getAttribute('data-queries'), '20');
  assert.ok((await top.locator('.profile-bar > span').boundingBox()).width > 0, 'the hottest line has its bar');
  assert.match(await page.locator('[data-testid=profile-time]').textContent(), /ms for the whole request = [\d.]+ ms in the view and its template \([\d.]+ ms of it in SQL/);
  // The template that ran, with the queries sent while it rendered: all 41 (the QuerySet is lazy).
  const tpl = page.locator('[data-testid=profile-template]').first();
  assert.match(await tpl.textContent(), /^articles\/front\.html [\d.<]+ ?[\d.]* ?ms · 41 queries$/);
  assert.equal(await tpl.getAttribute('data-queries'), '41');
  const sum = async () => (await page.locator('[data-testid=profile-line]').evaluateAll((ls) => ls.map((l) => Number(l.dataset.queries)))).reduce((a, b) => a + b, 0);
  assert.equal(await sum(), 41, 'every query is on a line');
  // Line by line: the template's author line first, with its 20 queries and 40 hits (two tags, twenty turns).
  const first = page.locator('[data-testid=profile-code-line]').first();
  assert.equal(await first.getAttribute('data-file'), 'templates/articles/front.html');
  assert.equal(await first.getAttribute('data-line'), '3');
  assert.equal(await first.getAttribute('data-queries'), '20');
  assert.match(await first.textContent(), /front\.html:3 <li>\{\{ a\.title \}\} by \{\{ a\.author\.username \}\}/);
  // The gutter bars of the template's editor: line 3 holds 20 queries, with a bar drawn.
  const gutter = async (file, line) => {
    await page.locator('[data-testid=file-tab]', { hasText: file }).click();
    const bar = page.locator(`[data-testid=gutter-bar][data-line="${line}"]`);
    await bar.waitFor({ state: 'attached' });
    const w = await bar.evaluate((el) => parseFloat(getComputedStyle(el, '::before').width));
    return { queries: Number(await bar.getAttribute('data-queries')), label: await bar.getAttribute('data-label'), w };
  };
  const g3 = await gutter('front.html', 3);
  assert.equal(g3.queries, 20);
  assert.ok(g3.w > 0, 'the bar is drawn');
  assert.match(g3.label, /^20 queries · /);
  // Keep this profile, fix the page, compare.
  await page.getByTestId('profile-keep').click();
  await page.getByTestId('profile-is-baseline').waitFor();
  await step(page, () => page.getByLabel('select_related("author")').check());
  await step(page, () => page.getByLabel('prefetch_related("tags")').check());
  assert.equal(await chosen(page), 'profile', 'the tab stays while the learner works');
  assert.equal(await sum(), 2);
  const origins = await page.locator('[data-testid=profile-line] code').allTextContents();
  assert.ok(!origins.some((o) => /a\.author\.username/.test(o)), origins.join(' | '));
  // The view's QuerySet line holds the 2 queries its lazy QuerySet sent from the template.
  const built = page.locator('[data-testid=profile-code-line][data-file="views.py"][data-line="7"]');
  assert.equal(await built.getAttribute('data-lazy'), '2');
  assert.match(await built.textContent(), /built a QuerySet whose 2 queries ran later/);
  assert.equal((await gutter('views.py', 7)).queries, 2);
  // Side by side with the kept N+1 profile: the author line and the tags line each lost 20.
  const diff = page.locator('[data-testid=profile-diff-line]');
  assert.equal(await diff.first().getAttribute('data-delta'), '-20');
  const rows = await diff.allTextContents();
  assert.ok(rows.some((r) => /a\.author\.username/.test(r) && /20 queries/.test(r) && /0 queries/.test(r) && /-20 queries/.test(r)), rows.join(' | '));
  assert.ok(rows.some((r) => /a\.tags\.all/.test(r) && /-20 queries/.test(r)), rows.join(' | '));
  assert.ok(rows.some((r) => /\{% for a in articles %\}/.test(r) && /\+1 query/.test(r)), 'the loop now sends the prefetch: ' + rows.join(' | '));
  await page.getByTestId('profile-forget').first().click();
  await page.getByTestId('profile-keep').waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a shell line in the prose fills the shell, as a request fills the address bar', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'indexes');
  const line = "Task.objects.filter(title__icontains='fix').explain()";
  await page.locator('[data-testid=prose-action][data-action=shell]', { hasText: line }).first().click();
  assert.equal(await page.locator('[data-testid=shell]').inputValue(), line);
  const out = await step(page, () => page.locator('[data-testid=run-shell]').click());
  assert.equal(out.queries, 1);
  assert.match(await page.locator('[data-testid=step-detail] [data-testid=plan]').textContent(), /SCAN tasks_task/);
  assert.deepEqual(errors, []);
  await ctx.close();
});
