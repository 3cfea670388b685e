//! Helpers shared by the codec fuzz targets: turning one fuzzer input into a byte stream plus a
//! read plan, and driving a decoder over it like a connection would.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Splits a fuzzer input into the stream and the reads it arrives in.
///
/// The first byte `n` says that the next `n % 16` bytes are read sizes; the reads cycle through
/// those sizes (each `size + 1` bytes), or take everything at once when there are none.
pub fn reads(data: &[u8]) -> (&[u8], Vec<&[u8]>) {
    let Some((&n, rest)) = data.split_first() else {
        return (data, Vec::new());
    };
    let n = (n as usize % 16).min(rest.len());
    let (plan, stream) = rest.split_at(n);
    if plan.is_empty() {
        return (stream, vec![stream]);
    }
    let mut chunks = Vec::new();
    let mut at = 0;
    for &size in plan.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let end = (at + size as usize + 1).min(stream.len());
        chunks.push(&stream[at..end]);
        at = end;
    }
    (stream, chunks)
}

/// Feeds `chunks` to `codec`, decoding after each as a reader would, until the first error
/// (which ends a connection). Returns the items and the error's text, if any.
pub fn drive<'a, D>(
    mut codec: D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<D::Item>, Option<String>)
where
    D: Decoder,
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => return (items, Some(format!("{e:?}"))),
            }
        }
    }
    (items, None)
}
