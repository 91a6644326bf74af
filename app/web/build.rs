//! Embeds the lessons (`lessons/NN-slug/lesson.md` + `lab.json`) in order of their prefix.
//! Fails the build on bad content: a lesson folder without its two files, or a duplicate slug.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lessons");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("lessons/ folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut out = String::from("pub static LESSONS: &[LessonSource] = &[\n");
    let mut slugs = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (prefix, slug) = name.split_once('-').unwrap_or_else(|| panic!("lesson folder '{name}' must be NN-slug"));
        assert!(prefix.chars().all(|c| c.is_ascii_digit()), "lesson folder '{name}' must start with a number");
        assert!(!slugs.contains(&slug.to_string()), "duplicate lesson slug '{slug}'");
        slugs.push(slug.to_string());
        for file in ["lesson.md", "lab.json"] {
            let p = dir.join(file);
            assert!(p.exists(), "lesson '{name}' lacks {file}");
            println!("cargo:rerun-if-changed={}", p.display());
        }
        writeln!(
            out,
            "    LessonSource {{ slug: {slug:?}, markdown: include_str!({:?}), lab_json: include_str!({:?}) }},",
            dir.join("lesson.md").canonicalize().unwrap(),
            dir.join("lab.json").canonicalize().unwrap()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("lessons.rs");
    std::fs::write(dest, out).unwrap();
}
