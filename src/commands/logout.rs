//! `odoo-bus logout`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context) -> Result<i32> {
    Err(Error::other("`logout` is not implemented yet"))
}
