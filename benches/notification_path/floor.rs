//! The floor: the least any client can do with the flood. It opens the websocket as
//! `odoo-bus tail` does (upgrade with the Origin and the session cookie, then the subscribe),
//! then reads the socket into a 1 MiB buffer and only finds the frame boundaries (to count the
//! text frames and to answer the server's close); it decodes, checks and prints nothing. Its
//! time is what this machine and the emulator allow a client at all: the bench reports it next
//! to websocat, so a ratio target below the floor's ratio is visibly out of reach.
//!
//! It runs as a process of its own, like every client: the bench starts its own executable with
//! `--floor-client` (see `main`), so it is built with the bench's (release) profile and needs no
//! extra target. At the close it prints the number of text frames it received (the warm-up
//! checks it) and nothing else.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The argument that makes the bench executable the floor client.
pub const ARG: &str = "--floor-client";
/// Where the floor client finds the session cookie (not on argv, where `ps` shows it).
pub const COOKIE_ENV: &str = "NOTIFICATION_PATH_FLOOR_COOKIE";

/// Each `read(2)` asks for up to this much: everything the socket holds, in one call.
const READ_BUFFER: usize = 1 << 20;

const SUBSCRIBE: &[u8] = br#"{"event_name":"subscribe","data":{"channels":[],"last":0}}"#;

/// `--floor-client HOST:PORT PATH ORIGIN`: connect, subscribe, read to the close. Exits 0 after
/// answering the server's close.
pub fn main(args: &[String]) -> ! {
    let code = match run(args) {
        Ok(frames) => {
            println!("{frames}");
            0
        }
        Err(e) => {
            eprintln!("floor client: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn run(args: &[String]) -> io::Result<u64> {
    let [addr, path, origin] = args else {
        return Err(io::Error::other(
            "usage: --floor-client HOST:PORT PATH ORIGIN",
        ));
    };
    let cookie = std::env::var(COOKIE_ENV).map_err(|_| io::Error::other("no cookie"))?;
    let mut socket = TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {origin}\r\nCookie: session_id={cookie}\r\n\r\n"
    )?;
    let mut buf = vec![0u8; READ_BUFFER];
    // The response head; what follows it in the same read is the first frame bytes.
    let mut have = 0;
    let head_end = loop {
        let n = socket.read(&mut buf[have..])?;
        if n == 0 {
            return Err(io::Error::other("closed during the upgrade"));
        }
        have += n;
        if let Some(at) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        return Err(io::Error::other(format!("upgrade refused: {head}")));
    }
    buf.copy_within(head_end..have, 0);
    have -= head_end;
    socket.write_all(&client_frame(0x1, SUBSCRIBE))?;

    let mut frames = 0u64;
    // Payload bytes of the current frame still to pass over.
    let mut skip = 0usize;
    let mut end = have;
    loop {
        let mut pos = 0;
        loop {
            let take = skip.min(end - pos);
            pos += take;
            skip -= take;
            if skip > 0 {
                break;
            }
            let Some((opcode, header, len)) = frame_header(&buf[pos..end]) else {
                break;
            };
            pos += header;
            match opcode {
                0x1 => frames += 1,
                0x8 => {
                    socket.write_all(&client_frame(0x8, &[0x03, 0xe8]))?;
                    return Ok(frames);
                }
                _ => {}
            }
            skip = len;
        }
        // An incomplete header moves to the front; payload bytes were passed over already.
        buf.copy_within(pos..end, 0);
        let kept = end - pos;
        let n = socket.read(&mut buf[kept..])?;
        if n == 0 {
            return Err(io::Error::other("closed without a close frame"));
        }
        end = kept + n;
    }
}

/// A server frame's opcode, header length and payload length, if the header is all there.
fn frame_header(b: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (header, len) = match b1 & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    Some((b0 & 0x0f, header, len))
}

/// A masked client frame (FIN set); the mask is zero, which RFC 6455 allows.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(
        payload.len() < 126,
        "the floor client only sends short frames"
    );
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}
