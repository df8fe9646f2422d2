//! What a connection's socket shares with the statement round trip of `wire.rs`, which sends and
//! reads a cached prepared statement on the socket itself, beside tokio-postgres.
//!
//! Both speak on one socket, one at a time (an inline connection is used by one task at a
//! time), and each must find the protocol where the other left it:
//! - tokio-postgres must never read a byte of the wire's responses: every use of the
//!   tokio-postgres client first lets the wire read what it is still owed (`owed`: a statement
//!   abandoned by a timeout or a cancelled task), and what the wire read past its own response
//!   is handed to tokio-postgres first (`read`);
//! - the wire may only start when tokio-postgres waits for nothing and holds no part of a
//!   message in its buffers: [`Frames`] follows the messages tokio-postgres writes and reads,
//!   and counts the responses it is owed (a Sync or a Query asks for one, a ReadyForQuery ends
//!   it). Watching the bytes, not the requests' futures: an error ends tokio-postgres's request
//!   before the ReadyForQuery that follows it has arrived;
//! - the wire runs on plain connections only: [`Handshake`] tells from the first bytes whether
//!   the server accepted TLS (the socket then carries TLS records, not messages).

use bytes::BytesMut;

/// The shared state (kept in the socket's lock with the stream itself).
#[derive(Debug, Default)]
pub(crate) struct Side {
    /// Read from the socket and not consumed by the wire: tokio-postgres reads these first.
    pub(crate) read: BytesMut,
    /// The wire's requests not sent yet.
    pub(crate) write: BytesMut,
    /// Responses the wire asked for and has not read up to their ReadyForQuery.
    pub(crate) owed: u32,
    /// The error of the response being read (the first one; the server skips to the Sync).
    pub(crate) failed: Option<crate::record::errors::OpError>,
    /// Responses tokio-postgres asked for and has not read up to their ReadyForQuery.
    driver_owed: u64,
    /// The messages tokio-postgres wrote and read, once the connection is open.
    frames: Option<(Frames, Frames)>,
    handshake: Handshake,
}

/// Whether the server accepted TLS, from the first bytes each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Handshake {
    #[default]
    Start,
    /// The client sent an SSLRequest; the server's one-byte answer is next.
    Asked,
    Plain,
    Tls,
}

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl Side {
    /// tokio-postgres wrote `bytes`.
    pub(crate) fn wrote(&mut self, bytes: &[u8]) {
        if self.handshake == Handshake::Start && !bytes.is_empty() {
            self.handshake = match bytes.starts_with(&SSL_REQUEST) {
                true => Handshake::Asked,
                false => Handshake::Plain,
            };
        }
        if let Some((writes, _)) = &mut self.frames {
            let owed = &mut self.driver_owed;
            writes.feed(bytes, |tag| {
                if tag == b'S' || tag == b'Q' {
                    *owed += 1;
                }
            });
        }
    }

    /// tokio-postgres read `bytes`.
    pub(crate) fn got(&mut self, bytes: &[u8]) {
        if self.handshake == Handshake::Asked && !bytes.is_empty() {
            self.handshake = match bytes[0] {
                b'S' => Handshake::Tls,
                _ => Handshake::Plain,
            };
        }
        if let Some((_, reads)) = &mut self.frames {
            let owed = &mut self.driver_owed;
            reads.feed(bytes, |tag| {
                if tag == b'Z' {
                    *owed = owed.saturating_sub(1);
                }
            });
        }
    }

    /// The connection is open (tokio-postgres read the server's first ReadyForQuery): from now
    /// on the wire may be used, if the connection is a plain one.
    pub(crate) fn opened(&mut self) -> bool {
        let plain = self.handshake == Handshake::Plain;
        if plain {
            self.frames = Some((Frames::default(), Frames::default()));
        }
        plain
    }

    /// Whether the wire may send a request now: tokio-postgres is owed nothing and holds no
    /// part of a message.
    pub(crate) fn wire_may_start(&self) -> bool {
        let idle = |(writes, reads): &(Frames, Frames)| writes.at_boundary() && reads.at_boundary();
        self.driver_owed == 0 && self.frames.as_ref().is_some_and(idle)
    }
}

/// Follows message boundaries in a stream of messages after the startup (a type byte, then a
/// length that counts itself), fed in pieces of any size.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    header: [u8; 5],
    have: usize,
    left: usize,
}

impl Frames {
    /// Follows `bytes`; `tag` gets the type of each message whose header is complete.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], mut tag: impl FnMut(u8)) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = self.left.min(bytes.len());
                self.left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                self.left = (len as usize).saturating_sub(4);
                self.have = 0;
                tag(self.header[0]);
            }
        }
    }

    /// No message is partly read.
    pub(crate) fn at_boundary(&self) -> bool {
        self.have == 0 && self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn frames_follow_messages_cut_anywhere() {
        let mut stream = message(b'2', b"");
        stream.extend(message(b'C', b"SELECT 1\0"));
        stream.extend(message(b'Z', b"I"));
        for cut in 0..=stream.len() {
            let mut f = Frames::default();
            let mut tags = Vec::new();
            f.feed(&stream[..cut], |t| tags.push(t));
            let ends = [0, 5, 19, stream.len()];
            assert_eq!(f.at_boundary(), ends.contains(&cut), "cut at {cut}");
            f.feed(&stream[cut..], |t| tags.push(t));
            assert!(f.at_boundary());
            assert_eq!(tags, b"2CZ");
        }
        // Byte by byte.
        let mut f = Frames::default();
        let mut tags = Vec::new();
        for b in &stream {
            f.feed(std::slice::from_ref(b), |t| tags.push(t));
        }
        assert!(f.at_boundary());
        assert_eq!(tags, b"2CZ");
    }

    #[test]
    fn the_handshake_tells_tls_from_plain() {
        let mut tls = Side::default();
        tls.wrote(&SSL_REQUEST);
        tls.got(b"S");
        assert!(!tls.opened() && !tls.wire_may_start());
        let mut refused = Side::default();
        refused.wrote(&SSL_REQUEST);
        refused.got(b"N");
        assert!(refused.opened() && refused.wire_may_start());
        let mut plain = Side::default();
        plain.wrote(&[0, 0, 0, 40, 0, 3, 0, 0]);
        assert!(plain.opened());
    }

    /// tokio-postgres's request is owed from its Sync to its ReadyForQuery: an error ends the
    /// request's future before the ReadyForQuery is read, and the wire must still wait.
    #[test]
    fn the_wire_waits_for_tokio_postgres_ready_for_query() {
        let mut side = Side::default();
        side.wrote(&[0, 0, 0, 8, 0, 3, 0, 0]);
        assert!(side.opened() && side.wire_may_start());
        let mut request = message(b'B', b"\0s1\0\0\0\0\0\0\0");
        request.extend(message(b'E', b"\0\0\0\0\0"));
        request.extend(message(b'S', b""));
        side.wrote(&request[..3]);
        assert!(!side.wire_may_start(), "a message partly written");
        side.wrote(&request[3..]);
        assert!(!side.wire_may_start(), "a response owed");
        side.got(&message(b'E', b"SERROR\0C22012\0\0"));
        assert!(
            !side.wire_may_start(),
            "the error is in, not the ReadyForQuery"
        );
        let ready = message(b'Z', b"I");
        side.got(&ready[..2]);
        assert!(!side.wire_may_start(), "a message partly read");
        side.got(&ready[2..]);
        assert!(side.wire_may_start());
    }
}
