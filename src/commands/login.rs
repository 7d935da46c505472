//! `odoo-bus login`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::LoginArgs) -> Result<i32> {
    Err(Error::other("`login` is not implemented yet"))
}
