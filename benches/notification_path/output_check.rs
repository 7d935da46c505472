//! What each client must have printed in the warm-up run, and counting it.

use std::io::{BufRead, BufReader};

use crate::INSERT_RATIO;
use crate::clients::{Client, Setup};

/// How many of `n` flood notifications are inserts (the emulator spreads them evenly).
pub(crate) fn expected_inserts(n: usize) -> usize {
    (n as f64 * INSERT_RATIO).floor() as usize
}

/// Lines carrying flood ids each client must print.
pub(crate) fn expected_lines(
    client: &Client,
    frames: usize,
    notifications: usize,
    inserts: usize,
) -> usize {
    match client {
        Client::Tail { args, .. } if args.contains(&"-t") => inserts,
        Client::Tail { args, .. } if args.contains(&"raw") => frames,
        Client::Tail { .. } => notifications,
        Client::Websocat => frames,
        Client::WebsocatJq => inserts,
        // It prints one line, the count of the text frames it received.
        Client::Floor => frames,
    }
}

/// Lines of the output file that carry an id of the flood.
pub(crate) fn count_flood_lines(setup: &Setup, (first, last): (u64, u64)) -> Result<usize, String> {
    let file = std::fs::File::open(setup.output_file()).map_err(|e| e.to_string())?;
    let mut n = 0;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line_id(&line).is_some_and(|id| (first..=last).contains(&id)) {
            n += 1;
        }
    }
    Ok(n)
}

/// The (first) notification id of an output line: JSON lines (`{"id":N…`, `[{"id": N…`) or
/// pretty ones (`23:06:28.123 N type …`).
fn line_id(line: &str) -> Option<u64> {
    let digits = if line.starts_with('{') || line.starts_with('[') {
        let at = line.find("\"id\":")? + 5;
        line[at..].trim_start()
    } else {
        line.split_whitespace().nth(1)?
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// What the warm-up run of `client` printed, in the unit of [`expected_lines`].
pub(crate) fn count_output(
    setup: &Setup,
    client: &Client,
    ids: (u64, u64),
) -> Result<usize, String> {
    match client {
        Client::Floor => floor_count(setup),
        _ => count_flood_lines(setup, ids),
    }
}

/// The floor client's output: a single line with its count of text frames.
fn floor_count(setup: &Setup) -> Result<usize, String> {
    let text = std::fs::read_to_string(setup.output_file()).map_err(|e| e.to_string())?;
    text.trim_end()
        .parse()
        .map_err(|_| format!("the floor client printed {text:?}, not a frame count"))
}
