//! The sample app's relations as a query walks them: a name on a model (`author`, `tags`,
//! `articles`) as a field or relation, and the path of joins (Django's `PathInfo`) it takes.

use super::expr::*;
use crate::schema::{self, FieldKind, ManyToMany, Model, MODELS};

pub fn get_field(model: &'static Model, name: &str) -> Option<GetField> {
    if let Some(f) = model.fields.iter().find(|f| f.name == name || (f.is_relation() && f.column == name)) {
        return Some(GetField::Concrete(f));
    }
    if let Some(m) = model.m2m.iter().find(|m| m.name == name) {
        return Some(GetField::M2M(m, schema::model(m.to)?));
    }
    for other in MODELS {
        for f in other.fields {
            if f.kind == FieldKind::ForeignKey(model.name) && f.related_name == Some(name) {
                return Some(GetField::Reverse(other, f));
            }
        }
        for m in other.m2m {
            if m.to == model.name && m.related_name == name {
                return Some(GetField::M2MReverse(m, other));
            }
        }
    }
    None
}

pub(crate) fn pk_target(m: &'static Model) -> Target {
    Target::of(m, m.pk_field())
}

pub(crate) fn pk_target_of_table(table: &'static str) -> Target {
    match MODELS.iter().find(|m| m.table == table) {
        Some(m) => pk_target(m),
        None => Target::through_pk(table),
    }
}

/// The `PathInfo`s of a relation.
pub fn path_infos(model: &'static Model, rel: &GetField) -> Vec<PathInfo> {
    match *rel {
        GetField::Concrete(f) => {
            let FieldKind::ForeignKey(to) = f.kind else { return vec![] };
            let to = schema::model(to).expect("schema is consistent");
            vec![PathInfo {
                to_table: to.table,
                to_model: Some(to),
                join_cols: (f.column, "id"),
                join_field: JoinField { id: format!("{}.{}", model.name, f.name), related_table: to.table },
                direct: true,
                m2m: false,
                nullable: f.null,
                foreign_targets: vec![pk_target(to)],
                local_targets: vec![Target::of(model, f)],
                target_fields: vec![pk_target(to)],
            }]
        }
        GetField::Reverse(from, f) => vec![PathInfo {
            to_table: from.table,
            to_model: Some(from),
            join_cols: ("id", f.column),
            join_field: JoinField { id: format!("{}.{}~", from.name, f.name), related_table: from.table },
            direct: false,
            m2m: true,
            nullable: true,
            foreign_targets: vec![Target::of(from, f)],
            local_targets: vec![pk_target(model)],
            target_fields: vec![pk_target(from)],
        }],
        GetField::M2M(m2m, to) => m2m_path(model, m2m, to, m2m.from_column, m2m.to_column),
        GetField::M2MReverse(m2m, from) => m2m_path(model, m2m, from, m2m.to_column, m2m.from_column),
    }
}

/// Through the join table: near column (pointing at `model`), far column (pointing at `to`).
pub(crate) fn m2m_path(model: &'static Model, m2m: &'static ManyToMany, to: &'static Model, near: &'static str, far: &'static str) -> Vec<PathInfo> {
    let near_target = Target::through(m2m.table, near, model.name);
    let far_target = Target::through(m2m.table, far, to.name);
    vec![
        PathInfo {
            to_table: m2m.table,
            to_model: None,
            join_cols: ("id", near),
            join_field: JoinField { id: format!("{}.{}~", m2m.table, near), related_table: m2m.table },
            direct: false,
            m2m: true,
            nullable: true,
            foreign_targets: vec![near_target],
            local_targets: vec![pk_target(model)],
            target_fields: vec![Target::through_pk(m2m.table)],
        },
        PathInfo {
            to_table: to.table,
            to_model: Some(to),
            join_cols: (far, "id"),
            join_field: JoinField { id: format!("{}.{}", m2m.table, far), related_table: to.table },
            direct: true,
            m2m: true,
            nullable: false,
            foreign_targets: vec![pk_target(to)],
            local_targets: vec![far_target],
            target_fields: vec![pk_target(to)],
        },
    ]
}

/// For a `split_exclude` path step: the field name on the outer side the subquery compares with
/// (`id` for a reverse relation or the near side of a many-to-many).
pub(crate) fn outer_field_name(path: &PathInfo) -> String {
    if path.direct {
        // A forward FK: the outer query compares its FK column's target (`pk` of the far model).
        "id".into()
    } else {
        let col = path.join_cols.0;
        if col == "id" {
            "id".into()
        } else {
            col.trim_end_matches("_id").to_string()
        }
    }
}

/// The column on the joined table of a (reverse) path step: `articles_article_tags.article_id`.
pub(crate) fn join_rhs_target(path: &PathInfo) -> Target {
    path.foreign_targets[0]
}

pub(crate) fn join_lhs_target(path: &PathInfo, _q: &Query) -> Target {
    path.local_targets[0]
}

pub fn model_of_table(table: &str) -> Option<&'static Model> {
    MODELS.iter().copied().find(|m| m.table == table)
}
