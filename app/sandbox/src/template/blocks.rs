//! Template inheritance: the blocks `{% extends %}` collects from a child and its parents,
//! and `{{ block.super }}`.

use std::collections::HashMap;
use std::rc::Rc;

use super::context::Context;
use super::parser::{CycleDef, Node};

/// `{% block %}` overrides collected by `{% extends %}`: per name, the most derived last.
#[derive(Default)]
pub(crate) struct BlockContext {
    blocks: HashMap<Rc<str>, Vec<BlockEntry>>,
}

#[derive(Clone)]
pub(crate) struct BlockEntry {
    pub(crate) body: Rc<Vec<Node>>,
    pub(crate) src: Rc<str>,
    pub(crate) cycles: Rc<Vec<CycleDef>>,
}

impl BlockContext {
    /// `add_blocks`: a less derived template's blocks go under the ones already there.
    pub(crate) fn add(&mut self, name: Rc<str>, e: BlockEntry) {
        self.blocks.entry(name).or_default().insert(0, e);
    }
    pub(crate) fn pop(&mut self, name: &str) -> Option<BlockEntry> {
        self.blocks.get_mut(name).and_then(|v| v.pop())
    }
    pub(crate) fn peek(&self, name: &str) -> Option<BlockEntry> {
        self.blocks.get(name).and_then(|v| v.last().cloned())
    }
    pub(crate) fn push(&mut self, name: Rc<str>, e: BlockEntry) {
        self.blocks.entry(name).or_default().push(e);
    }
}

/// Every `{% block %}` in `nodes`, however deeply nested (`get_nodes_by_type(BlockNode)`).
pub(crate) fn collect_blocks(nodes: &[Node], out: &mut Vec<(Rc<str>, Rc<Vec<Node>>)>) {
    for n in nodes {
        match n {
            Node::Block { name, body } => {
                out.push((name.clone(), body.clone()));
                collect_blocks(body, out);
            }
            Node::For(f) => {
                collect_blocks(&f.body, out);
                collect_blocks(&f.empty, out);
            }
            Node::If(branches) => branches.iter().for_each(|b| collect_blocks(&b.body, out)),
            Node::With { body, .. } | Node::Autoescape { body, .. } | Node::Filter { body, .. } | Node::Spaceless(body) => collect_blocks(body, out),
            Node::Cache(c) => collect_blocks(&c.body, out),
            Node::IfChanged { yes, no, .. } => {
                collect_blocks(yes, out);
                collect_blocks(no, out);
            }
            _ => {}
        }
    }
}

/// `{{ block }}` inside a block: `{{ block.super }}` renders the parent's version.
pub(crate) struct BlockVar {
    pub(crate) name: Rc<str>,
    pub(crate) blocks: Option<Rc<std::cell::RefCell<BlockContext>>>,
    pub(crate) ctx: Option<Rc<std::cell::RefCell<Context>>>,
}

