//! `odoo-bus send`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::SendArgs) -> Result<i32> {
    Err(Error::other("`send` is not implemented yet"))
}
