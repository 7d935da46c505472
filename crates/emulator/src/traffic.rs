//! Believable background traffic for `odoo-bus demo`: colleagues chatting in "general" and
//! "sales" (typing first), and presences coming and going. Roughly one to three notifications a
//! second at `rate = 1.0`, the first within a second, so a new user sees something at once.

use std::time::Duration;

use rand::RngExt;
use rand::seq::IndexedRandom;
use tokio::task::JoinHandle;

use super::control::Control;
use super::model::{ChannelKind, UserSpec};

const LINES: &[&str] = &[
    "Morning all!",
    "Did anyone see the new quote from Azure Interior?",
    "Shipping the Deco Addict order this afternoon 📦",
    "Can we move the stand-up to 10:30?",
    "Thanks, looks good to me.",
    "Invoice INV/2025/00042 is paid ✅",
    "I'll call the customer back after lunch.",
    "Who has the keys to the meeting room?",
    "Pushed the fix, please review when you can.",
    "Lunch at the café around the corner? ☕",
    "The demo for Gemini Furniture went great 🎉",
    "Reminder: timesheets are due Friday.",
    "Can someone check stock for the large desk?",
    "On it!",
    "Quote sent, waiting for their answer.",
    "Price list updated for next quarter.",
];

/// Runs until dropped or stopped.
#[derive(Debug)]
pub struct TrafficHandle {
    task: JoinHandle<()>,
}

impl TrafficHandle {
    pub fn stop(self) {}
}

impl Drop for TrafficHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where presence is pulled (16, early 17), a browser asks for its colleagues' statuses every
/// few seconds; the demo answers as if admin's and demo's clients had just asked about `who`.
fn answer_polls(control: &Control, watchers: &[i64], who: i64) {
    for watcher in watchers.iter().filter(|w| **w != who) {
        control.answer_presence_poll(*watcher, &[who]);
    }
}

/// Seed a few colleagues and a "sales" channel, then keep them busy. `rate` scales the pace
/// (1.0: an action every one to two seconds).
pub fn spawn(control: Control, rate: f64) -> TrafficHandle {
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        1.0
    };
    let admin = control.find_user("admin").map(|u| u.uid).unwrap_or(2);
    let demo = control.find_user("demo").map(|u| u.uid).unwrap_or(6);
    // Spawning twice on one emulator reuses the same colleagues.
    let colleague = |login: &str, name: &str| {
        control
            .find_user(login)
            .unwrap_or_else(|| control.add_user(UserSpec::internal(login, login, name)))
            .uid
    };
    let joel = colleague("joel", "Joel Willis");
    let audrey = colleague("audrey", "Audrey Peterson");
    let general = control.find_channel("general").unwrap_or(1);
    let sales = control
        .find_channel("sales")
        .unwrap_or_else(|| control.add_channel("sales", ChannelKind::Public, &[]));
    for uid in [admin, demo, joel, audrey] {
        control.join_channel(general, uid);
        control.join_channel(sales, uid);
    }
    let speakers = [demo, joel, audrey];
    let channels = [general, sales];
    let runtime = control.shared.runtime.clone();
    let task = runtime.spawn(async move {
        let pause = |lo: u64, hi: u64| {
            let ms = rand::rng().random_range(lo..hi) as f64 / rate;
            tokio::time::sleep(Duration::from_millis(ms as u64))
        };
        // Something visible on the member channels right away, presences a moment later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut first = true;
        let mut to_greet = speakers.to_vec();
        loop {
            let speaker = *speakers.choose(&mut rand::rng()).unwrap_or(&demo);
            if let (false, Some(uid)) = (first, to_greet.pop()) {
                control.set_presence(uid, "online");
                answer_polls(&control, &[admin, demo], uid);
            } else if first || rand::rng().random_bool(0.8) {
                let channel = *channels.choose(&mut rand::rng()).unwrap_or(&general);
                control.typing(speaker, channel, true);
                pause(600, 1500).await;
                control.typing(speaker, channel, false);
                let line = LINES.choose(&mut rand::rng()).copied().unwrap_or("Hi!");
                control.post_message(speaker, channel, &html_escape::encode_text(line));
            } else {
                let status = if rand::rng().random_bool(0.5) {
                    "away"
                } else {
                    "online"
                };
                control.set_presence(speaker, status);
                answer_polls(&control, &[admin, demo], speaker);
            }
            first = false;
            pause(700, 1600).await;
        }
    });
    TrafficHandle { task }
}
