//! `IntegerField()`, `FloatField()`, `CharField(max_length=…)`, …: the field classes of
//! `django.db.models` as a learner's query names them — the `output_field=` of an expression,
//! of an `ExpressionWrapper`, or the type of a `Cast`. They are not model fields here (the
//! sample app's models are fixed); each is the kind its values are read back as and the type
//! SQLite casts to (`db_type`, as Django's SQLite backend writes it).

use std::any::Any;

use crate::error::{err, ErrorKind, SResult};
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::schema::FieldKind;
use crate::value::{Kwargs, Object, Val};

/// The field classes `django.db.models` exposes.
pub const FIELD_CLASSES: &[&str] = &[
    "IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField",
    "PositiveBigIntegerField", "AutoField", "BigAutoField", "FloatField", "CharField", "TextField", "BooleanField", "DateField",
    "DateTimeField", "DecimalField", "DurationField", "TimeField",
];

/// What an `output_field=` says about an expression.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputField {
    pub class: &'static str,
    pub kind: FieldKind,
    /// The type `Cast` names on SQLite (`integer`, `varchar(5)`); `date` and `datetime`
    /// are cast with SQLite's date functions instead.
    pub db_type: String,
}

impl OutputField {
    /// Django's `convert_value` for an expression with this output field: floats for a
    /// `FloatField`, whole numbers for the integer fields, then the field's own converters.
    pub fn converts_to_int(&self) -> bool {
        self.class.ends_with("IntegerField")
    }
}

/// A field instance.
pub struct FieldObj(pub OutputField);

impl Object for FieldObj {
    fn type_name(&self) -> String {
        self.0.class.into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        // Field.__repr__ of a field not attached to a model.
        Ok(format!("<django.db.models.fields.{}>", self.0.class))
    }
}

/// The `output_field` a value names, if it is a field instance.
pub fn output_field_of(v: &Val) -> Option<OutputField> {
    v.as_obj::<FieldObj>().map(|f| f.0.clone())
}

/// `output_field=…` must be a field instance (a class, `IntegerField` without its
/// parentheses, is the usual slip).
pub fn require_output_field(v: &Val) -> SResult<OutputField> {
    output_field_of(v).ok_or_else(|| {
        let hint = match v {
            Val::Obj(o) if o.is_callable() => " (a field class needs its parentheses: output_field=IntegerField())",
            _ => "",
        };
        err(ErrorKind::TypeError, format!("output_field must be a field instance such as IntegerField(), not {}{hint}", v.type_name()))
    })
}

/// The keyword arguments every `Field.__init__` takes.
const FIELD_KWARGS: &[&str] = &[
    "verbose_name", "name", "primary_key", "max_length", "unique", "blank", "null", "db_index", "default", "editable",
    "serialize", "choices", "help_text", "db_column", "db_tablespace", "validators", "error_messages", "db_comment",
    "db_default", "max_digits", "decimal_places", "auto_now", "auto_now_add",
];

/// `IntegerField(...)` and the rest, by class name.
pub fn field_class(name: &'static str) -> Val {
    NativeFn::val(name, move |_rt, _args, kwargs| construct(name, &kwargs))
}

fn construct(class: &'static str, kwargs: &Kwargs) -> SResult<Val> {
    for (k, _) in kwargs {
        if !FIELD_KWARGS.contains(&k.as_str()) {
            return Err(err(ErrorKind::TypeError, format!("Field.__init__() got an unexpected keyword argument '{k}'")));
        }
    }
    let max_length = kwargs.iter().find(|(k, _)| k == "max_length").map(|(_, v)| v.clone());
    let (kind, db_type) = match class {
        "IntegerField" => (FieldKind::Int, "integer".to_string()),
        "BigIntegerField" => (FieldKind::Int, "bigint".into()),
        "SmallIntegerField" => (FieldKind::Int, "smallint".into()),
        "PositiveIntegerField" => (FieldKind::Int, "integer unsigned".into()),
        "PositiveSmallIntegerField" => (FieldKind::Int, "smallint unsigned".into()),
        "PositiveBigIntegerField" => (FieldKind::Int, "bigint unsigned".into()),
        // AutoField.cast_db_type is IntegerField's.
        "AutoField" | "BigAutoField" => (FieldKind::Auto, "integer".into()),
        "FloatField" => (FieldKind::Float, "real".into()),
        // CharField.cast_db_type: `text` without a max_length (the SQLite backend's
        // cast_char_field_without_max_length), else its db_type.
        "CharField" => match max_length {
            None | Some(Val::None) => (FieldKind::Char, "text".into()),
            Some(Val::Int(n)) => (FieldKind::Char, format!("varchar({n})")),
            Some(other) => return Err(err(ErrorKind::TypeError, format!("max_length must be an integer, not {}", other.type_name()))),
        },
        "TextField" => (FieldKind::Text, "text".into()),
        "BooleanField" => (FieldKind::Bool, "bool".into()),
        "DateField" => (FieldKind::Date, "date".into()),
        "DateTimeField" => (FieldKind::DateTime, "datetime".into()),
        "DecimalField" => {
            return Err(err(
                ErrorKind::NotSupported,
                "DecimalField is not available in the sandbox (it has no Decimal values); FloatField() reads the same numbers as floats",
            ))
        }
        other => return Err(err(ErrorKind::NotSupported, format!("{other} is not available in the sandbox as an output field"))),
    };
    Ok(Val::obj(FieldObj(OutputField { class, kind, db_type })))
}
