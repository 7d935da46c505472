//! `odoo-bus tail`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::TailArgs) -> Result<i32> {
    Err(Error::other("`tail` is not implemented yet"))
}
