//! Migrations as the labs apply them: `AddIndex`, `RemoveIndex` and a field's `db_index=True`,
//! typed (`protocol::Migration`), with what `makemigrations` writes and `sqlmigrate` prints,
//! and the DDL Django's SQLite schema editor sends.

use protocol::Migration;

use crate::error::{err, exc, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::schema::{Model, MODELS};

/// What `makemigrations` writes for a migration, and what `sqlmigrate` prints for it.
pub struct MigrationText {
    /// The migration file's `operations` entry (Django's formatting).
    pub python: String,
    /// `sqlmigrate`: the description comment and the DDL.
    pub sql: String,
    /// The DDL alone, as the schema editor sends it.
    pub ddl: String,
}

fn model_of(m: &Migration) -> SResult<&'static Model> {
    let short = m.model.rsplit('.').next().unwrap_or(&m.model);
    MODELS
        .iter()
        .copied()
        .find(|x| x.name == short && (!m.model.contains('.') || m.model.starts_with(&format!("{}.", x.app_label))))
        .ok_or_else(|| exc("LookupError", format!("migrations: no single model named '{}'", m.model)))
}

/// The migration Django would write for `m` and its SQL on SQLite.
pub fn text(m: &Migration) -> SResult<MigrationText> {
    let model = model_of(m)?;
    let lower = model.name.to_lowercase();
    let field_of = |fname: &str| model.field(fname).ok_or_else(|| exc("FieldDoesNotExist", format!("{} has no field named '{fname}'", model.name)));
    let (python, description, ddl) = if let Some(spec) = &m.add_index {
        let name = &spec.name;
        let mut cols = Vec::new();
        for f in &spec.fields {
            let (desc, fname) = match f.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, f.as_str()),
            };
            cols.push(format!("\"{}\"{}", field_of(fname)?.column, if desc { " DESC" } else { "" }));
        }
        let quoted: Vec<String> = spec.fields.iter().map(|f| format!("'{f}'")).collect();
        (
            format!("migrations.AddIndex(\n    model_name='{lower}',\n    index=models.Index(fields=[{}], name='{name}'),\n),", quoted.join(", ")),
            format!("Create index {name} on field(s) {} of model {lower}", spec.fields.join(", ")),
            format!("CREATE INDEX \"{name}\" ON \"{}\" ({})", model.table, cols.join(", ")),
        )
    } else if let Some(name) = &m.remove_index {
        (
            format!("migrations.RemoveIndex(\n    model_name='{lower}',\n    name='{name}',\n),"),
            format!("Remove index {name} from {lower}"),
            format!("DROP INDEX \"{name}\""),
        )
    } else if let Some(fname) = &m.db_index {
        let field = field_of(fname)?;
        let name = index_name(model.table, &[field.column], "");
        (
            format!("migrations.AlterField(\n    model_name='{lower}',\n    name='{fname}',\n    field=models.{}(..., db_index=True),\n),", field.class_name()),
            format!("Alter field {fname} on {lower}"),
            format!("CREATE INDEX \"{name}\" ON \"{}\" (\"{}\")", model.table, field.column),
        )
    } else {
        return Err(err(ErrorKind::ValueError, format!("migrations: no operation for model '{}' (add_index, remove_index or db_index)", m.model)));
    };
    let sql = format!("BEGIN;\n--\n-- {description}\n--\n{ddl};\nCOMMIT;");
    Ok(MigrationText { python, sql, ddl })
}

/// The name of the index a migration creates (`add_index`, or `db_index`'s generated name).
pub fn created_index(m: &Migration) -> Option<String> {
    if let Some(spec) = &m.add_index {
        return Some(spec.name.clone());
    }
    let model = model_of(m).ok()?;
    let field = model.field(m.db_index.as_deref()?)?;
    Some(index_name(model.table, &[field.column], ""))
}

/// Runs the migration's DDL.
pub fn apply(rt: &Rt, m: &Migration) -> SResult<()> {
    let text = text(m)?;
    rt.engine.borrow_mut().execute_batch(&text.ddl).map_err(crate::runtime::engine_error)?;
    Ok(())
}

/// A `run-project` case's migration, as JSON: the same three operations, or a clear error.
pub fn from_json(v: &serde_json::Value) -> SResult<Migration> {
    serde_json::from_value(v.clone()).map_err(|e| err(ErrorKind::ValueError, format!("migrations: {v} is not a migration ({e})")))
}

/// `BaseDatabaseSchemaEditor._create_index_name`: `<table>_<columns>_<md5 hash 8>`.
pub fn index_name(table: &str, columns: &[&str], suffix: &str) -> String {
    let mut data = Vec::new();
    data.extend_from_slice(table.as_bytes());
    for c in columns {
        data.extend_from_slice(c.as_bytes());
    }
    let hash = &crate::md5::hex(&data)[..8];
    format!("{table}_{}_{hash}{suffix}", columns.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_follow_django() {
        // Django: names_digest(table, column) -> md5 hex[:8].
        let n = index_name("tasks_task", &["title"], "");
        assert!(n.starts_with("tasks_task_title_"));
        assert_eq!(n.len(), "tasks_task_title_".len() + 8);
    }

    #[test]
    fn an_unknown_operation_or_model_is_a_clear_error() {
        let e = from_json(&serde_json::json!({"model": "Task", "add_field": "x"})).unwrap_err();
        assert!(e.message.contains("is not a migration"), "{}", e.message);
        let m = Migration { model: "Nope".into(), add_index: None, remove_index: None, db_index: Some("x".into()) };
        assert!(text(&m).err().unwrap().message.contains("no single model named 'Nope'"));
    }
}
