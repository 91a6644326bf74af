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
            let mut engine = Engine::open_memory()?;
            // Seeding is one long, trusted job: it gets a larger budget than a learner's statement.
            engine.budget_ms = 60_000.0;
            let counts = seed::seed_with_tasks(&mut engine, size.0, size.1, progress)?;
            let image = engine.image()?;
            if self.kept.len() >= KEEP {
                self.kept.remove(0);
            }
            self.kept.push((size, image, Seeded { counts, ms: crate::clock::monotonic_ms() - start }));
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
