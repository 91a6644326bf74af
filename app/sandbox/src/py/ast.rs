//! The syntax tree of the Python subset: what Django views, helpers, signal receivers and
//! tests in the chapter use. Every node keeps its byte span so errors point at the spot.

use std::rc::Rc;

use crate::value::BinOp;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Ellipsis,
}

/// A piece of an f-string: literal text, or `{expr!conv:spec}`.
#[derive(Debug, Clone, PartialEq)]
pub enum FPart {
    Lit(String),
    Expr { expr: Box<Expr>, conv: Option<char>, spec: Vec<FPart>, debug_text: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Pos(Expr),
    Star(Expr),
    Kw(Rc<str>, Expr),
    StarStar(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtE,
    Gt,
    GtE,
    Is,
    IsNot,
    In,
    NotIn,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::NotEq => "!=",
            CmpOp::Lt => "<",
            CmpOp::LtE => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtE => ">=",
            CmpOp::Is => "is",
            CmpOp::IsNot => "is not",
            CmpOp::In => "in",
            CmpOp::NotIn => "not in",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
    Pos,
    Invert,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comprehension {
    pub target: Expr,
    pub iter: Expr,
    pub ifs: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Name(Rc<str>),
    Const(Const),
    FString(Vec<FPart>),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Set(Vec<Expr>),
    /// `{k: v, **other}`: a `None` key is a `**` spread.
    Dict(Vec<(Option<Expr>, Expr)>),
    Starred(Box<Expr>),
    /// `value.attr`; the offset is where `attr` starts.
    Attr(Box<Expr>, Rc<str>, usize),
    Call { func: Box<Expr>, args: Vec<Arg> },
    Subscript(Box<Expr>, Box<Expr>),
    /// Only as a subscript: `a[lo:hi:step]`.
    Slice { lower: Option<Box<Expr>>, upper: Option<Box<Expr>>, step: Option<Box<Expr>> },
    BinOp(BinOp, Box<Expr>, Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
    /// `a and b and c` (`true` = and).
    BoolOp(bool, Vec<Expr>),
    Compare(Box<Expr>, Vec<(CmpOp, Expr)>),
    IfExp { test: Box<Expr>, body: Box<Expr>, orelse: Box<Expr> },
    Lambda(Rc<FuncDef>),
    ListComp(Box<Expr>, Vec<Comprehension>),
    SetComp(Box<Expr>, Vec<Comprehension>),
    DictComp(Box<Expr>, Box<Expr>, Vec<Comprehension>),
    GenExp(Box<Expr>, Vec<Comprehension>),
    /// `name := value`.
    NamedExpr(Rc<str>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Rc<str>,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Params {
    pub args: Vec<Param>,
    pub vararg: Option<Rc<str>>,
    pub kwonly: Vec<Param>,
    pub kwarg: Option<Rc<str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FuncDef {
    pub name: Rc<str>,
    pub params: Params,
    pub body: Vec<Stmt>,
    pub decorators: Vec<Expr>,
    /// `lambda`: the body is one expression statement whose value is returned.
    pub is_lambda: bool,
    /// Names assigned in the body (its locals), and those declared `global`/`nonlocal`.
    pub locals: Vec<Rc<str>>,
    pub globals: Vec<Rc<str>>,
    pub nonlocals: Vec<Rc<str>>,
    /// Where the `def` starts (for tracebacks) and the line of its name.
    pub start: usize,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub name: Rc<str>,
    pub bases: Vec<Expr>,
    pub body: Vec<Stmt>,
    pub decorators: Vec<Expr>,
    pub start: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    pub typ: Option<Expr>,
    pub name: Option<Rc<str>>,
    pub body: Vec<Stmt>,
    pub start: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub start: usize,
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    Expr(Expr),
    /// `a = b = value`.
    Assign { targets: Vec<Expr>, value: Expr },
    AugAssign { target: Expr, op: BinOp, value: Expr },
    AnnAssign { target: Expr, value: Option<Expr> },
    Pass,
    Break,
    Continue,
    Return(Option<Expr>),
    Raise { exc: Option<Expr>, cause: Option<Expr> },
    Global(Vec<Rc<str>>),
    Nonlocal(Vec<Rc<str>>),
    Del(Vec<Expr>),
    Assert { test: Expr, msg: Option<Expr> },
    /// `import a.b as c`: (dotted name, alias, offset of the name).
    Import(Vec<(String, Option<Rc<str>>, usize)>),
    /// `from .mod import a as b`: module, level of leading dots, (name, alias, offset).
    ImportFrom { module: String, level: usize, names: Vec<(Rc<str>, Option<Rc<str>>, usize)>, module_at: usize },
    If { test: Expr, body: Vec<Stmt>, orelse: Vec<Stmt> },
    For { target: Expr, iter: Expr, body: Vec<Stmt>, orelse: Vec<Stmt> },
    While { test: Expr, body: Vec<Stmt>, orelse: Vec<Stmt> },
    Try { body: Vec<Stmt>, handlers: Vec<Handler>, orelse: Vec<Stmt>, finalbody: Vec<Stmt> },
    With { items: Vec<(Expr, Option<Expr>)>, body: Vec<Stmt> },
    FunctionDef(Rc<FuncDef>),
    ClassDef(Rc<ClassDef>),
}
