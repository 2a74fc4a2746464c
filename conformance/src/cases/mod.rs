//! The cases, one module per group.

mod concurrency;
mod conditional;
mod containers;
mod copy;
mod delete;
mod errors;
mod helpers;
mod io;
mod keys;
mod listing;
mod multipart;
mod objects;
mod ranges;
mod transfer;
mod tree;
mod zip;

use crate::case::Case;

/// Every case, grouped, in a stable order.
pub(crate) fn all() -> Vec<Case> {
    let groups = [
        containers::cases(),
        objects::cases(),
        listing::cases(),
        ranges::cases(),
        conditional::cases(),
        multipart::cases(),
        copy::cases(),
        delete::cases(),
        errors::cases(),
        keys::cases(),
        helpers::cases(),
        concurrency::cases(),
        transfer::cases(),
        tree::cases(),
        zip::cases(),
        io::cases(),
    ];
    groups.into_iter().flatten().collect()
}
