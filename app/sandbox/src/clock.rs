//! Time for the sandbox and the engine, replaceable by the host.
//!
//! `std::time` panics on `wasm32-unknown-unknown`, so the worker installs JavaScript's
//! clocks (`performance.now()`, `Date.now()`) with [`set_clocks`] before anything runs.
//! Natively the defaults use `std::time`.

use std::sync::OnceLock;

type ClockFn = fn() -> f64;
static CLOCKS: OnceLock<(ClockFn, ClockFn)> = OnceLock::new();

/// Installs the host's clocks: a monotonic one and a wall one, both in milliseconds.
/// Only the first call counts.
pub fn set_clocks(monotonic_ms: ClockFn, wall_ms: ClockFn) {
    let _ = CLOCKS.set((monotonic_ms, wall_ms));
}

/// Milliseconds from an arbitrary start, never going backwards.
pub fn monotonic_ms() -> f64 {
    match CLOCKS.get() {
        Some((m, _)) => m(),
        None => default_monotonic_ms(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> f64 {
    match CLOCKS.get() {
        Some((_, w)) => w(),
        None => default_wall_ms(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn default_monotonic_ms() -> f64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(not(target_arch = "wasm32"))]
fn default_wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

// Without a host clock in wasm, time stands still rather than panicking.
#[cfg(target_arch = "wasm32")]
fn default_monotonic_ms() -> f64 {
    0.0
}

#[cfg(target_arch = "wasm32")]
fn default_wall_ms() -> f64 {
    0.0
}
