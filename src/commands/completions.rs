//! `odoo-bus completions SHELL`.

use super::Context;
use crate::cli::CompletionsArgs;
use crate::error::{Error, Result};

pub fn run(_ctx: &Context, _args: CompletionsArgs) -> Result<i32> {
    Err(Error::other("`completions` is not implemented yet"))
}
