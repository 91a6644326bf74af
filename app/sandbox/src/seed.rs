//! Deterministic sample data for the sample app's tables: same size, same rows, every time.
//!
//! Timestamps are explicit strings (the engine's own clock functions crash in wasm), and the
//! random choices come from a fixed-seed generator, so a shared link reproduces the data.

use crate::engine::{Engine, EngineError, SqlValue};
use crate::schema::SCHEMA_SQL;

/// SplitMix64: tiny, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// How many rows of each kind a seed of `articles` articles makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSize {
    /// Milliseconds spent creating the schema (tables and Django's indexes).
    pub schema_ms: u32,
    pub users: u32,
    pub tags: u32,
    pub articles: u32,
    pub organizations: u32,
    pub tasks: u32,
}

impl SeedSize {
    pub fn for_articles(articles: u32) -> SeedSize {
        let articles = articles.clamp(1, MAX_ARTICLES);
        SeedSize {
            schema_ms: 0,
            users: (articles / 5).clamp(10, 2_000),
            tags: 24,
            articles,
            organizations: 6,
            tasks: (articles / 2).clamp(20, 5_000),
        }
    }
    pub fn total_rows(&self) -> u32 {
        // Articles carry ~1.5 tag links each; memberships ~1.5 per user.
        self.users * 5 / 2 + self.tags + self.articles * 5 / 2 + self.organizations + self.tasks
    }
}

pub const MAX_ARTICLES: u32 = 100_000;
/// The indexes lab's largest table.
pub const MAX_TASKS: u32 = 100_000;
pub const SIZES: [u32; 6] = [50, 200, 1_000, 5_000, 10_000, 100_000];

const FIRST: [&str; 12] = ["Ada", "Grace", "Guido", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Radia", "Alan", "Frances", "Edsger"];
const LAST: [&str; 10] = ["Lovelace", "Hopper", "Rossum", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Perlman", "Kay"];
const TOPICS: [&str; 24] = [
    "django", "python", "orm", "sql", "sqlite", "postgres", "caching", "indexes", "testing", "templates", "performance", "n-plus-one",
    "pagination", "transactions", "profiling", "security", "deployment", "async", "celery", "redis", "migrations", "admin", "forms", "rest",
];
const WORDS: [&str; 16] = ["Fast", "Lazy", "Careful", "Hidden", "Tiny", "Honest", "Quiet", "Deep", "Shared", "Cached", "Joined", "Sorted", "Simple", "Clever", "Stale", "Fresh"];
const NOUNS: [&str; 16] = ["Queries", "Templates", "Indexes", "Pages", "Loops", "Joins", "Caches", "Models", "Views", "Managers", "Cursors", "Plans", "Lookups", "Tests", "Signals", "Fields"];

/// `2024-01-01 00:00:00` plus `minutes`, as Django stores a naive datetime.
fn timestamp(minutes: u64) -> String {
    use crate::datetime::{civil_from_days, days_from_civil};
    let (y, m, d) = civil_from_days(days_from_civil(2024, 1, 1) + (minutes / (24 * 60)) as i64);
    let rem = minutes % (24 * 60);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:00", rem / 60, rem % 60)
}

/// Creates the schema and fills it. `progress(done, total)` is called every few thousand rows.
pub fn seed(engine: &mut Engine, articles: u32, progress: &mut dyn FnMut(u32, u32)) -> Result<SeedSize, EngineError> {
    seed_with_tasks(engine, articles, None, progress)
}

/// As [`seed`], with the number of tasks chosen (the rest of the data is the same).
pub fn seed_with_tasks(engine: &mut Engine, articles: u32, tasks: Option<u32>, progress: &mut dyn FnMut(u32, u32)) -> Result<SeedSize, EngineError> {
    let mut size = SeedSize::for_articles(articles);
    if let Some(t) = tasks {
        size.tasks = t.clamp(1, MAX_TASKS);
    }
    // The rows are consistent by construction (a test checks every reference), so the engine
    // need not look each one up while inserting; as Django's `loaddata` does, the checks are
    // off while the rows go in and back on after, also when seeding fails. (The pragma does
    // nothing inside a transaction in SQLite, so it is set outside one.)
    let checks_were_on = engine.run("PRAGMA foreign_keys", &[])?.rows.first().and_then(|r| r.first()) != Some(&SqlValue::Int(0));
    engine.execute_batch("PRAGMA foreign_keys = OFF")?;
    let filled = fill(engine, &mut size, articles, progress);
    if filled.is_err() {
        let _ = engine.execute_batch("ROLLBACK");
    }
    if checks_were_on {
        engine.execute_batch("PRAGMA foreign_keys = ON")?;
    }
    filled?;
    Ok(size)
}

/// Creates the schema and inserts `size`'s rows in one transaction.
fn fill(engine: &mut Engine, size: &mut SeedSize, articles: u32, progress: &mut dyn FnMut(u32, u32)) -> Result<(), EngineError> {
    let total = size.total_rows();
    let mut done = 0u32;
    let mut tick = |n: u32, progress: &mut dyn FnMut(u32, u32)| {
        done += n;
        if done % 2_000 < n {
            progress(done.min(total), total);
        }
    };
    let mut rng = Rng::new(0x5EED_0000 + articles as u64);
    // One transaction for the DDL and the rows: each auto-committed statement costs a commit.
    engine.execute_batch("BEGIN")?;
    let start = crate::clock::monotonic_ms();
    // Tables first, their indexes after the rows: building an index over rows already in place
    // is cheaper than keeping it up to date row by row (the schema ends up the same).
    let (indexes, tables): (Vec<&str>, Vec<&str>) = SCHEMA_SQL.lines().filter(|l| l.starts_with("CREATE ")).partition(|l| l.contains(" INDEX "));
    engine.execute_batch(&tables.join("\n"))?;
    size.schema_ms = (crate::clock::monotonic_ms() - start) as u32;
    let t = SqlValue::Text;
    let i = SqlValue::Int;
    for u in 1..=size.users {
        let first = if u % 7 == 0 { String::new() } else { FIRST[rng.below(FIRST.len() as u64) as usize].to_string() };
        let last = LAST[rng.below(LAST.len() as u64) as usize];
        engine.run(
            "INSERT INTO \"auth_user\" (\"password\", \"last_login\", \"is_superuser\", \"username\", \"first_name\", \"last_name\", \"email\", \"is_staff\", \"is_active\", \"date_joined\") VALUES (?, NULL, ?, ?, ?, ?, ?, ?, 1, ?)",
            &[
                t("!".into()),
                i((u == 1) as i64),
                t(format!("user{u:03}")),
                t(first),
                t(last.into()),
                t(format!("user{u:03}@example.com")),
                i((u <= 2) as i64),
                t(timestamp(u as u64 * 37)),
            ],
        )?;
        tick(1, progress);
    }
    for g in 1..=size.tags {
        let name = TOPICS[(g - 1) as usize % TOPICS.len()];
        engine.run("INSERT INTO \"articles_tag\" (\"name\", \"slug\") VALUES (?, ?)", &[t(name.into()), t(name.into())])?;
        tick(1, progress);
    }
    // Articles and their tag links go in batches of rows per INSERT (the pagination lab asks
    // for 100,000 articles); the generator is called in the same order as row by row.
    const ARTICLE_BATCH: u32 = 200;
    let mut minutes = 0u64;
    let mut a = 1u32;
    while a <= size.articles {
        let n = ARTICLE_BATCH.min(size.articles - a + 1);
        let mut rows = Vec::with_capacity(n as usize * 6);
        let mut links = Vec::new();
        for a in a..a + n {
            minutes += 30 + rng.below(600);
            let author = 1 + rng.below(size.users as u64) as i64;
            let status = if rng.below(4) == 0 { "draft" } else { "published" };
            let title = match a {
                // Markup in the data: it must come out escaped, as Django's autoescape does.
                7 => "<script>alert('xss')</script> & other \"tricks\"".to_string(),
                _ => format!(
                    "{} {} #{a}",
                    WORDS[rng.below(WORDS.len() as u64) as usize],
                    NOUNS[rng.below(NOUNS.len() as u64) as usize]
                ),
            };
            rows.extend([i(author), t(title), t(format!("article-{a}")), t(format!("Body of article {a}.")), t(status.into()), t(timestamp(minutes))]);
            let n_tags = rng.below(4);
            let mut chosen: Vec<u64> = Vec::new();
            while (chosen.len() as u64) < n_tags {
                let tag = 1 + rng.below(size.tags as u64);
                if !chosen.contains(&tag) {
                    chosen.push(tag);
                }
            }
            links.extend(chosen.into_iter().flat_map(|tag| [i(a as i64), i(tag as i64)]));
        }
        let values = vec!["(?, ?, ?, ?, ?, ?)"; n as usize].join(", ");
        engine.run(
            &format!("INSERT INTO \"articles_article\" (\"author_id\", \"title\", \"slug\", \"body\", \"status\", \"created_at\") VALUES {values}"),
            &rows,
        )?;
        if !links.is_empty() {
            let values = vec!["(?, ?)"; links.len() / 2].join(", ");
            engine.run(&format!("INSERT INTO \"articles_article_tags\" (\"article_id\", \"tag_id\") VALUES {values}"), &links)?;
        }
        tick(n, progress);
        a += n;
    }
    for o in 1..=size.organizations {
        engine.run(
            "INSERT INTO \"orgs_organization\" (\"name\", \"slug\") VALUES (?, ?)",
            &[t(format!("Org {o}")), t(format!("org-{o}"))],
        )?;
    }
    for u in 1..=size.users {
        let first_org = 1 + rng.below(size.organizations as u64);
        let orgs = if u % 3 == 0 { vec![first_org, 1 + first_org % size.organizations as u64] } else { vec![first_org] };
        for (k, org) in orgs.into_iter().enumerate() {
            let role = if u <= size.organizations { "owner" } else if k == 0 && u % 5 == 0 { "admin" } else { "member" };
            engine.run(
                "INSERT INTO \"orgs_membership\" (\"organization_id\", \"user_id\", \"role\") VALUES (?, ?, ?)",
                &[i(org as i64), i(u as i64), t(role.into())],
            )?;
        }
        tick(1, progress);
    }
    let statuses = ["open", "in_progress", "done"];
    // Tasks go in batches of rows per INSERT: the indexes lab asks for 100,000 of them.
    const BATCH: u32 = 250;
    let mut k = 1;
    while k <= size.tasks {
        let n = BATCH.min(size.tasks - k + 1);
        let mut params = Vec::with_capacity(n as usize * 7);
        for j in k..k + n {
            let user = |rng: &mut Rng| 1 + rng.below(size.users as u64) as i64;
            let assigned = if rng.below(4) == 0 { SqlValue::Null } else { i(user(&mut rng)) };
            let updated = if rng.below(3) == 0 { SqlValue::Null } else { i(user(&mut rng)) };
            params.extend([
                i(1 + rng.below(size.organizations as u64) as i64),
                t(format!("Task {j}")),
                t(statuses[rng.below(3) as usize].into()),
                assigned,
                i(user(&mut rng)),
                updated,
                t(timestamp(j as u64 * 45)),
            ]);
        }
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; n as usize].join(", ");
        engine.run(
            &format!("INSERT INTO \"tasks_task\" (\"organization_id\", \"title\", \"status\", \"assigned_to_id\", \"created_by_id\", \"updated_by_id\", \"created_at\") VALUES {rows}"),
            &params,
        )?;
        tick(n, progress);
        k += n;
    }
    let start = crate::clock::monotonic_ms();
    engine.execute_batch(&indexes.join("\n"))?;
    size.schema_ms += (crate::clock::monotonic_ms() - start) as u32;
    engine.execute_batch("COMMIT")?;
    progress(total, total);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_walk_the_calendar() {
        assert_eq!(timestamp(0), "2024-01-01 00:00:00");
        assert_eq!(timestamp(31 * 24 * 60 + 61), "2024-02-01 01:01:00");
        assert_eq!(timestamp((31 + 29) * 24 * 60), "2024-03-01 00:00:00");
        assert_eq!(timestamp(366 * 24 * 60), "2025-01-01 00:00:00");
    }

    fn dump(e: &mut Engine) -> Vec<Vec<SqlValue>> {
        let mut all = Vec::new();
        for table in ["auth_user", "articles_article", "articles_article_tags", "orgs_membership", "tasks_task"] {
            all.extend(e.run(&format!("SELECT * FROM \"{table}\" ORDER BY id"), &[]).unwrap().rows);
        }
        all
    }

    #[test]
    fn timestamps_match_a_walk_through_the_calendar() {
        // Day by day from 2024-01-01, as the seed's first version counted, for 70 years.
        let (mut y, mut m, mut d) = (2024i32, 1u32, 1u32);
        for day in 0..70 * 366u64 {
            assert_eq!(timestamp(day * 24 * 60 + 75), format!("{y:04}-{m:02}-{d:02} 01:15:00"));
            d += 1;
            if d > crate::datetime::days_in_month(y, m) {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
    }

    #[test]
    fn every_reference_points_at_a_row_and_checks_are_back_on() {
        let mut e = Engine::open_memory().unwrap();
        seed_with_tasks(&mut e, 300, Some(700), &mut |_, _| {}).unwrap();
        let refs = [
            ("articles_article", "author_id", "auth_user"),
            ("articles_article_tags", "article_id", "articles_article"),
            ("articles_article_tags", "tag_id", "articles_tag"),
            ("orgs_membership", "organization_id", "orgs_organization"),
            ("orgs_membership", "user_id", "auth_user"),
            ("tasks_task", "organization_id", "orgs_organization"),
            ("tasks_task", "assigned_to_id", "auth_user"),
            ("tasks_task", "created_by_id", "auth_user"),
            ("tasks_task", "updated_by_id", "auth_user"),
        ];
        for (table, column, target) in refs {
            let sql = format!("SELECT count(*) FROM \"{table}\" t LEFT JOIN \"{target}\" r ON r.id = t.\"{column}\" WHERE t.\"{column}\" IS NOT NULL AND r.id IS NULL");
            assert_eq!(e.run(&sql, &[]).unwrap().rows[0][0], SqlValue::Int(0), "{table}.{column} points at a missing {target}");
            let used = format!("SELECT count(*) FROM \"{table}\" WHERE \"{column}\" IS NOT NULL");
            assert_ne!(e.run(&used, &[]).unwrap().rows[0][0], SqlValue::Int(0), "{table}.{column} is never set");
        }
        assert_eq!(e.run("PRAGMA foreign_keys", &[]).unwrap().rows[0][0], SqlValue::Int(1));
        // And the engine enforces them again: a dangling author is refused at commit.
        e.execute_batch("BEGIN").unwrap();
        e.run("UPDATE articles_article SET author_id = 999999 WHERE id = 1", &[]).unwrap();
        assert!(e.execute_batch("COMMIT").is_err(), "a dangling reference must not commit");
    }

    #[test]
    fn a_seed_that_fails_midway_leaves_nothing_behind_and_checks_on() {
        // Stopped by the budget (the engine rolls back itself) or by an SQL error (seeding does).
        let mut stopped = Engine::open_memory().unwrap();
        stopped.budget_ms = 0.0;
        let err = seed_with_tasks(&mut stopped, 5_000, None, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, EngineError::Budget { .. }), "{err:?}");
        stopped.budget_ms = Engine::open_memory().unwrap().budget_ms;
        let mut clashing = Engine::open_memory().unwrap();
        clashing.execute_batch("CREATE TABLE \"tasks_task\" (x)").unwrap();
        let err = seed(&mut clashing, 50, &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("tasks_task"), "{err}");
        for (e, tables) in [(&mut stopped, 0), (&mut clashing, 1)] {
            assert_eq!(e.run("PRAGMA foreign_keys", &[]).unwrap().rows[0][0], SqlValue::Int(1));
            assert_eq!(e.run("SELECT count(*) FROM sqlite_master", &[]).unwrap().rows[0][0], SqlValue::Int(tables), "rolled back");
            e.execute_batch("BEGIN").expect("no transaction left open");
            e.execute_batch("ROLLBACK").unwrap();
        }
    }

    #[test]
    fn same_size_same_rows() {
        let mut a = Engine::open_memory().unwrap();
        let mut b = Engine::open_memory().unwrap();
        seed(&mut a, 120, &mut |_, _| {}).unwrap();
        seed(&mut b, 120, &mut |_, _| {}).unwrap();
        assert_eq!(dump(&mut a), dump(&mut b));
        let drafts = a.run("SELECT count(*) FROM articles_article WHERE status = 'draft'", &[]).unwrap().rows[0][0].clone();
        let SqlValue::Int(d) = drafts else { panic!() };
        assert!((15..=45).contains(&d), "about a quarter of 120 are drafts, got {d}");
        let nulls = a.run("SELECT count(*) FROM tasks_task WHERE assigned_to_id IS NULL", &[]).unwrap().rows[0][0].clone();
        assert_ne!(nulls, SqlValue::Int(0));
    }
}
