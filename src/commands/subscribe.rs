//! `odoo-bus subscribe`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::SubscribeArgs) -> Result<i32> {
    Err(Error::other("`subscribe` is not implemented yet"))
}
