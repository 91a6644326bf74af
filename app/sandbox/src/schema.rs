//! The sample app's models, as Django sees them: fields in declaration order, relations
//! with their `related_name`s, default orderings. The tables are those of
//! `shared/sample_app/schema.sql` (Django 5.2's DDL), which [`SCHEMA_SQL`] repeats.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The `id` primary key.
    Auto,
    Int,
    Char,
    Text,
    Bool,
    DateTime,
    /// A foreign key to another model (by model name); the column is `<name>_id`.
    ForeignKey(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
    pub null: bool,
    /// For foreign keys: the name of the reverse manager on the target model.
    pub related_name: Option<&'static str>,
    /// `choices` (value, label), for `get_FOO_display`.
    pub choices: &'static [(&'static str, &'static str)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManyToMany {
    pub name: &'static str,
    pub to: &'static str,
    pub related_name: &'static str,
    /// The through table and its two columns (this side, other side).
    pub table: &'static str,
    pub from_column: &'static str,
    pub to_column: &'static str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Model {
    pub name: &'static str,
    pub table: &'static str,
    pub fields: &'static [Field],
    pub m2m: &'static [ManyToMany],
    /// `Meta.ordering`.
    pub ordering: &'static [&'static str],
    /// The custom QuerySet methods the manager offers (`published`).
    pub custom_methods: &'static [&'static str],
    /// What `str(instance)` prints: a field name, or `None` for Django's default `Model object (pk)`.
    pub str_field: Option<&'static str>,
}

const fn f(name: &'static str, column: &'static str, kind: FieldKind) -> Field {
    Field { name, column, kind, null: false, related_name: None, choices: &[] }
}
const fn fk(name: &'static str, column: &'static str, to: &'static str, related: &'static str, null: bool) -> Field {
    Field { name, column, kind: FieldKind::ForeignKey(to), null, related_name: Some(related), choices: &[] }
}
const fn nullable(mut fld: Field) -> Field {
    fld.null = true;
    fld
}
const fn choices(mut fld: Field, c: &'static [(&'static str, &'static str)]) -> Field {
    fld.choices = c;
    fld
}

use FieldKind::*;

pub static USER: Model = Model {
    name: "User",
    table: "auth_user",
    fields: &[
        f("id", "id", Auto),
        f("password", "password", Char),
        nullable(f("last_login", "last_login", DateTime)),
        f("is_superuser", "is_superuser", Bool),
        f("username", "username", Char),
        f("first_name", "first_name", Char),
        f("last_name", "last_name", Char),
        f("email", "email", Char),
        f("is_staff", "is_staff", Bool),
        f("is_active", "is_active", Bool),
        f("date_joined", "date_joined", DateTime),
    ],
    m2m: &[],
    ordering: &[],
    custom_methods: &[],
    str_field: Some("username"),
};

pub static TAG: Model = Model {
    name: "Tag",
    table: "articles_tag",
    fields: &[f("id", "id", Auto), f("name", "name", Char), f("slug", "slug", Char)],
    m2m: &[],
    ordering: &[],
    custom_methods: &[],
    str_field: None,
};

pub static ARTICLE: Model = Model {
    name: "Article",
    table: "articles_article",
    fields: &[
        f("id", "id", Auto),
        fk("author", "author_id", "User", "articles", false),
        f("title", "title", Char),
        f("slug", "slug", Char),
        f("body", "body", Text),
        choices(f("status", "status", Char), &[("draft", "Draft"), ("published", "Published")]),
        f("created_at", "created_at", DateTime),
    ],
    m2m: &[ManyToMany {
        name: "tags",
        to: "Tag",
        related_name: "articles",
        table: "articles_article_tags",
        from_column: "article_id",
        to_column: "tag_id",
    }],
    ordering: &["-created_at"],
    custom_methods: &["published"],
    str_field: None,
};

pub static ORGANIZATION: Model = Model {
    name: "Organization",
    table: "orgs_organization",
    fields: &[f("id", "id", Auto), f("name", "name", Char), f("slug", "slug", Char)],
    m2m: &[],
    ordering: &[],
    custom_methods: &[],
    str_field: None,
};

pub static MEMBERSHIP: Model = Model {
    name: "Membership",
    table: "orgs_membership",
    fields: &[
        f("id", "id", Auto),
        fk("organization", "organization_id", "Organization", "memberships", false),
        fk("user", "user_id", "User", "memberships", false),
        choices(f("role", "role", Char), &[("owner", "Owner"), ("admin", "Admin"), ("member", "Member")]),
    ],
    m2m: &[],
    ordering: &[],
    custom_methods: &[],
    str_field: None,
};

pub static TASK: Model = Model {
    name: "Task",
    table: "tasks_task",
    fields: &[
        f("id", "id", Auto),
        fk("organization", "organization_id", "Organization", "tasks", false),
        f("title", "title", Char),
        choices(
            f("status", "status", Char),
            &[("open", "Open"), ("in_progress", "In Progress"), ("done", "Done")],
        ),
        fk("assigned_to", "assigned_to_id", "User", "assigned_tasks", true),
        fk("created_by", "created_by_id", "User", "created_tasks", false),
        fk("updated_by", "updated_by_id", "User", "updated_tasks", true),
        f("created_at", "created_at", DateTime),
    ],
    m2m: &[],
    ordering: &["-created_at"],
    custom_methods: &[],
    str_field: None,
};

pub static MODELS: [&Model; 6] = [&USER, &TAG, &ARTICLE, &ORGANIZATION, &MEMBERSHIP, &TASK];

pub fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().copied().find(|m| m.name == name)
}

/// A relation seen from one model: how to get from its rows to the other model's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `article.author`: this model holds the FK column.
    Forward { field: &'static Field, to: &'static Model },
    /// `user.articles`: the other model holds an FK to this one.
    Reverse { from: &'static Model, field: &'static Field },
    /// `article.tags`: through a join table, declared here.
    ManyToMany { m2m: &'static ManyToMany, to: &'static Model },
    /// `tag.articles`: the reverse side of a declared many-to-many.
    ManyToManyReverse { m2m: &'static ManyToMany, from: &'static Model },
}

impl Relation {
    pub fn target(&self) -> &'static Model {
        match self {
            Relation::Forward { to, .. } | Relation::ManyToMany { to, .. } => to,
            Relation::Reverse { from, .. } | Relation::ManyToManyReverse { from, .. } => from,
        }
    }
    /// Whether one instance has many of the other (a manager rather than an object).
    pub fn is_multiple(&self) -> bool {
        !matches!(self, Relation::Forward { .. })
    }
}

impl Model {
    pub fn field(&'static self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name || (name == "pk" && f.kind == Auto))
    }

    /// A field by its attribute name `author_id` (the raw FK value).
    pub fn field_by_attname(&'static self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.column == name && matches!(f.kind, ForeignKey(_)))
    }

    /// Any relation named `name` reachable from this model.
    pub fn relation(&'static self, name: &str) -> Option<Relation> {
        if let Some(field) = self.field(name) {
            if let ForeignKey(to) = field.kind {
                return Some(Relation::Forward { field, to: model(to)? });
            }
            return None;
        }
        if let Some(m2m) = self.m2m.iter().find(|m| m.name == name) {
            return Some(Relation::ManyToMany { m2m, to: model(m2m.to)? });
        }
        for other in MODELS {
            for field in other.fields {
                if field.kind == ForeignKey(self.name) && field.related_name == Some(name) {
                    return Some(Relation::Reverse { from: other, field });
                }
            }
            for m2m in other.m2m {
                if m2m.to == self.name && m2m.related_name == name {
                    return Some(Relation::ManyToManyReverse { m2m, from: other });
                }
            }
        }
        None
    }

    /// The names Django lists in "Choices are: …" (sorted, as Django sorts them).
    pub fn choice_names(&'static self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.fields.iter().map(|f| f.name).collect();
        names.extend(self.fields.iter().filter(|f| matches!(f.kind, ForeignKey(_))).map(|f| f.column));
        names.extend(self.m2m.iter().map(|m| m.name));
        for other in MODELS {
            for field in other.fields {
                if field.kind == ForeignKey(self.name) {
                    if let Some(r) = field.related_name {
                        names.push(r);
                    }
                }
            }
            for m2m in other.m2m {
                if m2m.to == self.name {
                    names.push(m2m.related_name);
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    pub fn pk_field(&'static self) -> &'static Field {
        self.field("id").expect("every sample model has an id")
    }
}

/// The DDL Django 5.2 generates for the sample app on SQLite (`shared/sample_app/schema.sql`).
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_resolve_both_ways() {
        assert!(matches!(ARTICLE.relation("author"), Some(Relation::Forward { .. })));
        assert!(matches!(USER.relation("articles"), Some(Relation::Reverse { .. })));
        assert!(matches!(ARTICLE.relation("tags"), Some(Relation::ManyToMany { .. })));
        assert!(matches!(TAG.relation("articles"), Some(Relation::ManyToManyReverse { .. })));
        assert!(matches!(ORGANIZATION.relation("tasks"), Some(Relation::Reverse { .. })));
        assert_eq!(ARTICLE.relation("title"), None);
        assert_eq!(USER.relation("assigned_tasks").unwrap().target().name, "Task");
    }

    #[test]
    fn choices_are_listed_like_djangos_field_error() {
        assert_eq!(
            ARTICLE.choice_names(),
            vec!["author", "author_id", "body", "created_at", "id", "slug", "status", "tags", "title"]
        );
    }

    #[test]
    fn every_model_table_is_in_the_ddl() {
        for m in MODELS {
            assert!(SCHEMA_SQL.contains(&format!("CREATE TABLE \"{}\"", m.table)), "{}", m.table);
            for fld in m.fields {
                assert!(SCHEMA_SQL.contains(&format!("\"{}\"", fld.column)), "{}.{}", m.table, fld.column);
            }
        }
    }
}
