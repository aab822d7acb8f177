//! The body of a file response: pieces of memory (cached content, the part
//! headers of a multi-range answer) and ranges of an open file, read as
//! hyper asks for them so a slow client slows the reads and memory stays at
//! one piece per connection.

use super::file_ops::FileRead;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// Bytes read from a file per piece.
const PIECE: u64 = 256 * 1024;

/// One part of a [`FileBody`].
#[derive(Debug)]
pub(super) enum Piece {
    /// Bytes already in memory.
    Mem(Bytes),
    /// `len` bytes of the file from offset `at`.
    File { at: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Mem(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        }
    }
}

/// Pieces of memory and of one file, sent in order.
pub(super) struct FileBody {
    file: Option<Box<dyn FileRead>>,
    pieces: VecDeque<Piece>,
    remaining: u64,
}

impl FileBody {
    /// The pieces, in order; `file` is where `Piece::File` ranges are read.
    pub(super) fn new(file: Option<Box<dyn FileRead>>, pieces: VecDeque<Piece>) -> Self {
        let remaining = pieces.iter().map(Piece::len).sum();
        FileBody {
            file,
            pieces,
            remaining,
        }
    }

    fn next_frame(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            let piece = self.pieces.pop_front()?;
            match piece {
                Piece::Mem(b) if b.is_empty() => continue,
                Piece::Mem(b) => {
                    self.remaining -= b.len() as u64;
                    return Some(Ok(b));
                }
                Piece::File { len: 0, .. } => continue,
                Piece::File { at, len } => {
                    let Some(file) = &self.file else {
                        return Some(Err(std::io::Error::other("no file for a file range")));
                    };
                    let want = len.min(PIECE);
                    let mut buf = vec![0u8; want as usize];
                    let n = match file.read_at(&mut buf, at) {
                        Ok(0) => {
                            // The file shrank under us: end the body short (the
                            // length sent no longer holds; the client sees the
                            // connection end).
                            return Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "file shrank while being sent",
                            )));
                        }
                        // A `FileRead` of the user's that says it read more than
                        // it was given room for is not believed.
                        Ok(n) => n.min(buf.len()),
                        Err(e) => return Some(Err(e)),
                    };
                    buf.truncate(n);
                    if (n as u64) < len {
                        self.pieces.push_front(Piece::File {
                            at: at + n as u64,
                            len: len - n as u64,
                        });
                    }
                    self.remaining -= n as u64;
                    return Some(Ok(Bytes::from(buf)));
                }
            }
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.next_frame().map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn memory_and_file_ranges_come_out_in_order() {
        let dir = std::env::temp_dir().join(format!("rlws-file-body-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let pieces = VecDeque::from([
            Piece::Mem(Bytes::from_static(b"head")),
            Piece::File {
                at: 10,
                len: 600_000,
            },
            Piece::Mem(Bytes::new()),
            Piece::File { at: 0, len: 3 },
        ]);
        let body = FileBody::new(Some(Box::new(std::fs::File::open(&path).unwrap())), pieces);
        assert_eq!(body.size_hint().exact(), Some(4 + 600_000 + 3));
        let got = body.collect().await.unwrap().to_bytes();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[10..600_010]);
        want.extend_from_slice(&data[..3]);
        assert_eq!(got, want);
        // A range past the end of the file ends the body with an error.
        let short = FileBody::new(
            Some(Box::new(std::fs::File::open(&path).unwrap())),
            VecDeque::from([Piece::File {
                at: 699_999,
                len: 2,
            }]),
        );
        assert!(short.collect().await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
