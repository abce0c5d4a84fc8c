//! The key-value store's messages on the wire: a frame is a little-endian `u32` length and a
//! body; a body is a tag byte followed by `u32` numbers and length-prefixed byte strings.

use std::io::{self, Read, Write};

/// The largest frame either side accepts (values are topology protos and NCCL ids: small).
pub const MAX_FRAME: usize = 256 << 20;

/// A message between a process and the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// First message of a connection: who is calling, in a job of how many processes.
    Hello { process_id: u32, num_processes: u32 },
    /// Store `value` under `key` (refused if the key exists).
    Set { key: Vec<u8>, value: Vec<u8> },
    /// The value of `key`, or [`Msg::NotFound`].
    TryGet { key: Vec<u8> },
    /// I am alive (no answer).
    Ping,
    /// I leave cleanly (no answer): do not report me as dead.
    Bye,
    /// Done.
    Ok,
    /// A value.
    Value(Vec<u8>),
    /// No such key.
    NotFound,
    /// A refusal: a `PJRT_Error_Code` number and a message.
    Refused { code: u32, message: String },
    /// Pushed by the coordinator: a process died (its connection dropped or went silent).
    PeerDied { process_id: u32, reason: String },
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        match self {
            Msg::Hello {
                process_id,
                num_processes,
            } => {
                b.push(1);
                put_u32(&mut b, *process_id);
                put_u32(&mut b, *num_processes);
            }
            Msg::Set { key, value } => {
                b.push(2);
                put_bytes(&mut b, key);
                put_bytes(&mut b, value);
            }
            Msg::TryGet { key } => {
                b.push(3);
                put_bytes(&mut b, key);
            }
            Msg::Ping => b.push(4),
            Msg::Bye => b.push(5),
            Msg::Ok => b.push(6),
            Msg::Value(v) => {
                b.push(7);
                put_bytes(&mut b, v);
            }
            Msg::NotFound => b.push(8),
            Msg::Refused { code, message } => {
                b.push(9);
                put_u32(&mut b, *code);
                put_bytes(&mut b, message.as_bytes());
            }
            Msg::PeerDied { process_id, reason } => {
                b.push(10);
                put_u32(&mut b, *process_id);
                put_bytes(&mut b, reason.as_bytes());
            }
        }
        b
    }

    fn decode(body: &[u8]) -> Option<Msg> {
        let mut r = Reader { buf: body, pos: 1 };
        let msg = match *body.first()? {
            1 => Msg::Hello {
                process_id: r.u32()?,
                num_processes: r.u32()?,
            },
            2 => Msg::Set {
                key: r.bytes()?,
                value: r.bytes()?,
            },
            3 => Msg::TryGet { key: r.bytes()? },
            4 => Msg::Ping,
            5 => Msg::Bye,
            6 => Msg::Ok,
            7 => Msg::Value(r.bytes()?),
            8 => Msg::NotFound,
            9 => Msg::Refused {
                code: r.u32()?,
                message: String::from_utf8_lossy(&r.bytes()?).into_owned(),
            },
            10 => Msg::PeerDied {
                process_id: r.u32()?,
                reason: String::from_utf8_lossy(&r.bytes()?).into_owned(),
            },
            _ => return None,
        };
        (r.pos == body.len()).then_some(msg)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        let b = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(b.to_vec())
    }
}

/// Writes one message as a frame.
pub fn send(w: &mut impl Write, msg: &Msg) -> io::Result<()> {
    let body = msg.encode();
    let mut frame = Vec::with_capacity(body.len() + 4);
    put_u32(&mut frame, body.len() as u32);
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame; `UnexpectedEof` when the peer closed the connection, `InvalidData` for a
/// frame that is not one of ours.
pub fn recv(r: &mut impl Read) -> io::Result<Msg> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    if len == 0 || len > MAX_FRAME {
        return Err(invalid(format!(
            "a {len}-byte message: not the sbgm-xla key-value store's protocol"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Msg::decode(&body)
        .ok_or_else(|| invalid("a message that is not the sbgm-xla key-value store's".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_the_round_trip() {
        let msgs = [
            Msg::Hello {
                process_id: 3,
                num_processes: 4,
            },
            Msg::Set {
                key: b"local_topology/cuda/1".to_vec(),
                value: vec![0, 1, 0, 255, 0],
            },
            Msg::TryGet { key: vec![] },
            Msg::Ping,
            Msg::Bye,
            Msg::Ok,
            Msg::Value(vec![0; 3]),
            Msg::NotFound,
            Msg::Refused {
                code: 6,
                message: "exists".into(),
            },
            Msg::PeerDied {
                process_id: 1,
                reason: "gone".into(),
            },
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            send(&mut buf, m).unwrap();
        }
        let mut r = &buf[..];
        for m in &msgs {
            assert_eq!(&recv(&mut r).unwrap(), m);
        }
        assert_eq!(
            recv(&mut r).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // Not our protocol: an HTTP request, a truncated body, trailing bytes.
        let e = recv(&mut &b"GET / HTTP/1.1\r\n\r\n"[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(recv(&mut &[3u8, 0, 0, 0, 3, 1, 0][..]).is_err());
        assert!(recv(&mut &[2u8, 0, 0, 0, 6, 0][..]).is_err());
    }
}
