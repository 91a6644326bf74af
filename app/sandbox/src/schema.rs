//! The sample app's models, as Django sees them: fields in declaration order, relations
//! with their `related_name`s, default orderings. The tables are those of
//! `schema.sql` beside it (Django 5.2's DDL), which [`SCHEMA_SQL`] repeats.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The `id` primary key.
    Auto,
    Int,
    Char,
    Text,
    Bool,
    /// A float (no model field has one; `FloatField()` as an output field or a `Cast`).
    Float,
    DateTime,
    /// A date (no model field of the sample app has one; `dates()` gives them).
    Date,
    /// A foreign key to another model (by model name); the column is `<name>_id`.
    ForeignKey(&'static str),
}

impl FieldKind {
    /// The Django field class of this kind, for messages.
    pub fn class_name(self) -> &'static str {
        match self {
            FieldKind::Auto => "BigAutoField",
            FieldKind::Int => "IntegerField",
            FieldKind::Char => "CharField",
            FieldKind::Text => "TextField",
            FieldKind::Bool => "BooleanField",
            FieldKind::Float => "FloatField",
            FieldKind::DateTime => "DateTimeField",
            FieldKind::Date => "DateField",
            FieldKind::ForeignKey(_) => "ForeignKey",
        }
    }
}

/// What `Field.get_default()` gives a new instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDefault {
    /// No default: `""` for text fields that allow empty strings, else `None`.
    Unset,
    Str(&'static str),
    Bool(bool),
    /// `default=timezone.now`.
    Now,
}

/// `on_delete` of a foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    Cascade,
    SetNull,
    Protect,
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
    pub default: FieldDefault,
    pub unique: bool,
    pub on_delete: OnDelete,
    /// `db_index=True` as declared (foreign keys always get an index).
    pub db_index: bool,
}

impl Field {
    /// The attribute holding the raw value: `author_id` for a foreign key, else the name.
    pub fn attname(&self) -> &'static str {
        match self.kind {
            FieldKind::ForeignKey(_) => self.column,
            _ => self.name,
        }
    }
    pub fn is_relation(&self) -> bool {
        matches!(self.kind, FieldKind::ForeignKey(_))
    }
    /// Django's `empty_strings_allowed`.
    pub fn empty_strings_allowed(&self) -> bool {
        matches!(self.kind, FieldKind::Char | FieldKind::Text)
    }
    /// The Django field class, for messages.
    pub fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }
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
    /// What `str(instance)` prints: a field name, or `None` for Django's default `Model object (pk)`.
    pub str_field: Option<&'static str>,
    /// The app label (`articles`) and the module the model is imported from.
    pub app_label: &'static str,
    pub module: &'static str,
    /// Nested `TextChoices` classes: (class name, field whose choices they are).
    pub choices_classes: &'static [(&'static str, &'static str)],
    /// Python source of the custom QuerySet class the manager comes from (`ArticleQuerySet`),
    /// whose methods querysets of this model offer.
    pub queryset_source: Option<&'static str>,
    /// `unique_together` sets, as field names.
    pub unique_together: &'static [&'static [&'static str]],
    /// Many-to-many tables of models outside the sample app (auth's groups and permissions):
    /// (table, column pointing here), deleted with the instance.
    pub hidden_m2m: &'static [(&'static str, &'static str)],
}

const fn f(name: &'static str, column: &'static str, kind: FieldKind) -> Field {
    Field {
        name,
        column,
        kind,
        null: false,
        related_name: None,
        choices: &[],
        default: FieldDefault::Unset,
        unique: false,
        on_delete: OnDelete::Cascade,
        db_index: false,
    }
}
const fn fk(name: &'static str, column: &'static str, to: &'static str, related: &'static str, null: bool) -> Field {
    Field {
        name,
        column,
        kind: FieldKind::ForeignKey(to),
        null,
        related_name: Some(related),
        choices: &[],
        default: FieldDefault::Unset,
        unique: false,
        on_delete: if null { OnDelete::SetNull } else { OnDelete::Cascade },
        db_index: true,
    }
}
const fn unique(mut fld: Field) -> Field {
    fld.unique = true;
    fld
}
const fn default(mut fld: Field, d: FieldDefault) -> Field {
    fld.default = d;
    fld
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
        default(f("is_superuser", "is_superuser", Bool), FieldDefault::Bool(false)),
        unique(f("username", "username", Char)),
        f("first_name", "first_name", Char),
        f("last_name", "last_name", Char),
        f("email", "email", Char),
        default(f("is_staff", "is_staff", Bool), FieldDefault::Bool(false)),
        default(f("is_active", "is_active", Bool), FieldDefault::Bool(true)),
        default(f("date_joined", "date_joined", DateTime), FieldDefault::Now),
    ],
    m2m: &[],
    ordering: &[],
    str_field: Some("username"),
    app_label: "auth",
    module: "django.contrib.auth.models",
    choices_classes: &[],
    queryset_source: None,
    unique_together: &[],
    hidden_m2m: &[("auth_user_groups", "user_id"), ("auth_user_user_permissions", "user_id")],
};

pub static TAG: Model = Model {
    name: "Tag",
    table: "articles_tag",
    fields: &[f("id", "id", Auto), unique(f("name", "name", Char)), unique(f("slug", "slug", Char))],
    m2m: &[],
    ordering: &[],
    str_field: None,
    app_label: "articles",
    module: "articles.models",
    choices_classes: &[],
    queryset_source: None,
    unique_together: &[],
    hidden_m2m: &[],
};

/// `articles/models.py`'s custom QuerySet: the methods `Article.objects` offers beyond Django's.
const ARTICLE_QUERYSET: &str = "class ArticleQuerySet(models.QuerySet):\n    def published(self):\n        return self.filter(status=Article.Status.PUBLISHED)\n";

pub static ARTICLE: Model = Model {
    name: "Article",
    table: "articles_article",
    fields: &[
        f("id", "id", Auto),
        fk("author", "author_id", "User", "articles", false),
        f("title", "title", Char),
        unique(f("slug", "slug", Char)),
        f("body", "body", Text),
        default(choices(f("status", "status", Char), &[("draft", "Draft"), ("published", "Published")]), FieldDefault::Str("draft")),
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
    str_field: None,
    app_label: "articles",
    module: "articles.models",
    choices_classes: &[("Status", "status")],
    queryset_source: Some(ARTICLE_QUERYSET),
    unique_together: &[],
    hidden_m2m: &[],
};

pub static ORGANIZATION: Model = Model {
    name: "Organization",
    table: "orgs_organization",
    fields: &[f("id", "id", Auto), f("name", "name", Char), unique(f("slug", "slug", Char))],
    m2m: &[],
    ordering: &[],
    str_field: None,
    app_label: "orgs",
    module: "orgs.models",
    choices_classes: &[],
    queryset_source: None,
    unique_together: &[],
    hidden_m2m: &[],
};

pub static MEMBERSHIP: Model = Model {
    name: "Membership",
    table: "orgs_membership",
    fields: &[
        f("id", "id", Auto),
        fk("organization", "organization_id", "Organization", "memberships", false),
        fk("user", "user_id", "User", "memberships", false),
        default(choices(f("role", "role", Char), &[("owner", "Owner"), ("admin", "Admin"), ("member", "Member")]), FieldDefault::Str("member")),
    ],
    m2m: &[],
    ordering: &[],
    str_field: None,
    app_label: "orgs",
    module: "orgs.models",
    choices_classes: &[("Role", "role")],
    queryset_source: None,
    unique_together: &[&["organization", "user"]],
    hidden_m2m: &[],
};

pub static TASK: Model = Model {
    name: "Task",
    table: "tasks_task",
    fields: &[
        f("id", "id", Auto),
        fk("organization", "organization_id", "Organization", "tasks", false),
        f("title", "title", Char),
        default(
            choices(f("status", "status", Char), &[("open", "Open"), ("in_progress", "In Progress"), ("done", "Done")]),
            FieldDefault::Str("open"),
        ),
        fk("assigned_to", "assigned_to_id", "User", "assigned_tasks", true),
        fk("created_by", "created_by_id", "User", "created_tasks", false),
        fk("updated_by", "updated_by_id", "User", "updated_tasks", true),
        f("created_at", "created_at", DateTime),
    ],
    m2m: &[],
    ordering: &["-created_at"],
    str_field: None,
    app_label: "tasks",
    module: "tasks.models",
    choices_classes: &[("Status", "status")],
    queryset_source: None,
    unique_together: &[],
    hidden_m2m: &[],
};

pub static MODELS: [&Model; 6] = [&USER, &TAG, &ARTICLE, &ORGANIZATION, &MEMBERSHIP, &TASK];

/// The auto-created through model of `Article.tags` (Django's `Article_tags`): hidden from
/// reverse lookups, used for the queries many-to-many managers send.
pub static ARTICLE_TAGS: Model = Model {
    name: "Article_tags",
    table: "articles_article_tags",
    fields: &[
        f("id", "id", Auto),
        fk("article", "article_id", "Article", "Article_tags+", false),
        fk("tag", "tag_id", "Tag", "Article_tags+", false),
    ],
    m2m: &[],
    ordering: &[],
    str_field: None,
    app_label: "articles",
    module: "articles.models",
    choices_classes: &[],
    queryset_source: None,
    unique_together: &[&["article", "tag"]],
    hidden_m2m: &[],
};

/// The through model of a many-to-many table.
pub fn through_model(table: &str) -> Option<&'static Model> {
    (table == ARTICLE_TAGS.table).then_some(&ARTICLE_TAGS)
}

pub fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().copied().find(|m| m.name == name).or_else(|| (name == ARTICLE_TAGS.name).then_some(&ARTICLE_TAGS))
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

/// The DDL Django 5.2 generates for the sample app on SQLite (`schema.sql`, from the sample app's models).
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// `django.contrib.auth`'s many-to-many tables of users (groups and permissions), which a
/// user's deletion empties as Django's does. Not part of the sample app's spec; created so the
/// same DELETE statements run in the browser as on a database Django made.
pub const AUTH_M2M_SQL: &str = "CREATE TABLE IF NOT EXISTS \"auth_user_groups\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"user_id\" integer NOT NULL, \"group_id\" integer NOT NULL);\nCREATE TABLE IF NOT EXISTS \"auth_user_user_permissions\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"user_id\" integer NOT NULL, \"permission_id\" integer NOT NULL);\n";

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
