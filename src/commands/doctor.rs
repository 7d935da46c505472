//! `odoo-bus doctor`.

use super::Context;
use crate::error::{Error, Result};

pub async fn run(_ctx: &Context, _args: crate::cli::DoctorArgs) -> Result<i32> {
    Err(Error::other("`doctor` is not implemented yet"))
}
