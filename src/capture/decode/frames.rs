//! The stream-pkg dialects: `tcp` (one JSON body per frame) and `pinus-tcp` (a type byte before
//! the body), framed by [`crate::wire::stream_pkg`] and typed by [`crate::wire::typed_pkg`].

use bytes::BytesMut;

use super::{DecodeError, Progress};
use crate::capture::record::FrameRecord;
use crate::wire::WireError;
use crate::wire::stream_pkg::read_header;
use crate::wire::typed_pkg::Kind;

/// The frame at the start of `buf` once all of it has arrived, header included.
fn take_frame(buf: &mut BytesMut, max: usize) -> Result<Option<(Vec<u8>, usize)>, DecodeError> {
    let Some((len, hlen)) = read_header(buf, max)? else { return Ok(None) };
    if len == 0 {
        return Err(WireError::EmptyFrame.into());
    }
    if buf.len() < hlen + len {
        return Ok(None);
    }
    Ok(Some((buf.split_to(hlen + len).to_vec(), hlen)))
}

/// `tcp`: one stream-pkg frame, its body an RPC payload.
pub(super) fn stream_pkg(buf: &mut BytesMut, max: usize) -> Result<Progress, DecodeError> {
    let Some((raw, hlen)) = take_frame(buf, max)? else { return Ok(Progress::Wait) };
    let mut rec = FrameRecord::new("stream-pkg", Vec::new());
    rec.push_rpc(&raw[hlen..]);
    rec.raw = raw;
    Ok(Progress::Frame(rec))
}

/// `pinus-tcp`: one typed frame; requests and responses carry an RPC payload, pings and pongs
/// nothing. An unknown type byte is noted and decoding goes on (the framing is sound).
pub(super) fn typed(buf: &mut BytesMut, max: usize) -> Result<Progress, DecodeError> {
    let Some((raw, hlen)) = take_frame(buf, max)? else { return Ok(Progress::Wait) };
    let (byte, payload) = (raw[hlen], &raw[hlen + 1..]);
    let kind = Kind::from_byte(byte);
    let name = match kind {
        Some(Kind::Msg) => "pinus:msg",
        Some(Kind::Ping) => "pinus:ping",
        Some(Kind::Pong) => "pinus:pong",
        Some(Kind::Res) => "pinus:res",
        None => "pinus:unknown",
    };
    let mut rec = FrameRecord::new(name, Vec::new());
    match kind {
        Some(k) if k.has_body() => rec.push_rpc(payload),
        Some(_) => {}
        None => rec.note_malformed(format!("unknown pinus-tcp frame type {byte}")),
    }
    rec.raw = raw;
    Ok(Progress::Frame(rec))
}
