//! Freshly seeded databases, kept as images ([`crate::engine::Image`]) by size. Seeding
//! 10,000 articles takes a while; opening a copy of its image takes microseconds and shares its
//! pages until they are written. Every session that must start from fresh data — the
//! learner's after "Reset data" or a timeline run, a check, a comparison, a sweep point, a
//! claim of the self-check — is opened from one.

use crate::engine::{Engine, EngineError, Image};
use crate::seed;
use crate::session::{Session, Size, STATEMENT_BUDGET_MS};

/// The sizes kept at once (a 100,000-task image is tens of MB).
const KEEP: usize = 4;

/// What seeding one size produced, for the page's status line.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub counts: seed::SeedSize,
    pub ms: f64,
    /// Loaded from the image shipped with the app ([`BUILT_IN`]), not seeded.
    pub built_in: bool,
}

/// The size every lab starts with (the page's default database).
pub const BUILT_IN_SIZE: Size = (200, None);

/// The default database, seeded at build time: what `seed::seed` makes of 200 articles, as
/// [`Image::to_bytes`] writes it (`sandbox seed-image app/sandbox/data/seed-200.img` makes it;
/// a test checks it is byte for byte what seeding makes now, natively and in wasm). Opening it
/// costs a copy instead of creating the schema and inserting every row at the start of a visit.
pub const BUILT_IN: &[u8] = include_bytes!("../data/seed-200.img");

/// Seeds `size` into a new database and returns its image (what [`BUILT_IN`] must equal).
pub fn seed_image(size: Size, progress: &mut dyn FnMut(u32, u32)) -> Result<(Image, seed::SeedSize), EngineError> {
    let mut engine = Engine::open_memory()?;
    // Seeding is one long, trusted job: it gets a larger budget than a learner's statement.
    engine.budget_ms = 60_000.0;
    let counts = seed::seed_with_tasks(&mut engine, size.0, size.1, progress)?;
    Ok((engine.image()?, counts))
}

#[derive(Default)]
pub struct Images {
    /// Most recently used last.
    kept: Vec<(Size, Image, Seeded)>,
}

impl Images {
    /// The image of freshly seeded data of `size`, seeding it first when it is not kept;
    /// `progress(done, total)` is told how seeding goes.
    pub fn get(&mut self, size: Size, progress: &mut dyn FnMut(u32, u32)) -> Result<(&Image, Seeded), EngineError> {
        if let Some(i) = self.kept.iter().position(|(s, _, _)| *s == size) {
            let entry = self.kept.remove(i);
            self.kept.push(entry);
        } else {
            let start = crate::clock::monotonic_ms();
            let (image, counts, built_in) = if size == BUILT_IN_SIZE {
                (Image::from_bytes(BUILT_IN)?, seed::SeedSize::for_articles(size.0), true)
            } else {
                let (image, counts) = seed_image(size, progress)?;
                (image, counts, false)
            };
            if self.kept.len() >= KEEP {
                self.kept.remove(0);
            }
            self.kept.push((size, image, Seeded { counts, ms: crate::clock::monotonic_ms() - start, built_in }));
        }
        let (_, image, seeded) = self.kept.last().expect("pushed above");
        Ok((image, *seeded))
    }

    /// A new session on fresh data of `size`.
    pub fn session(&mut self, size: Size, progress: &mut dyn FnMut(u32, u32)) -> Result<Session, EngineError> {
        let (image, _) = self.get(size, progress)?;
        let mut engine = Engine::from_image(image)?;
        engine.budget_ms = STATEMENT_BUDGET_MS;
        Ok(Session::new(engine, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_database_is_byte_for_byte_what_seeding_makes() {
        let (image, counts) = seed_image(BUILT_IN_SIZE, &mut |_, _| {}).expect("seeds");
        let now = image.to_bytes();
        assert!(
            now == BUILT_IN,
            "app/sandbox/data/seed-200.img is stale (the schema or the seed changed): run `sandbox seed-image app/sandbox/data/seed-200.img` ({} bytes now, {} shipped)",
            now.len(),
            BUILT_IN.len()
        );
        let shipped = Image::from_bytes(BUILT_IN).expect("reads");
        assert_eq!(shipped.to_bytes(), now);
        // Checkpointed: its sessions read the pages from the database file, not the log.
        assert_eq!(image.log_bytes(), 0);
        assert!(image.bytes() > 0);
        assert_eq!(counts.articles, seed::SeedSize::for_articles(200).articles);
        // A session on it sees the seeded rows.
        let mut images = Images::default();
        let mut s = images.session(BUILT_IN_SIZE, &mut |_, _| {}).expect("opens");
        let (_, rows, _) = s.sql("SELECT count(*) FROM articles_article").expect("runs");
        assert_eq!(rows[0][0], "200");
    }

    #[test]
    fn a_damaged_image_is_refused_with_a_message() {
        for bad in [&b""[..], &b"DJPLIMG1"[..], &BUILT_IN[..BUILT_IN.len() - 1], &b"not an image at all"[..]] {
            let e = Image::from_bytes(bad).err().expect("refused");
            assert!(format!("{e:?}").contains("not a database image"), "{e:?}");
        }
    }
}
