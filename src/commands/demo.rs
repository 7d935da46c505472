//! `odoo-bus demo`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::DemoArgs) -> Result<i32> {
    Err(Error::other("`demo` is not implemented yet"))
}
