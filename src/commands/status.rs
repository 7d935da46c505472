//! `odoo-bus status`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::StatusArgs) -> Result<i32> {
    Err(Error::other("`status` is not implemented yet"))
}
