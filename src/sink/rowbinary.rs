//! A minimal RowBinary writer: the encoding ClickHouse reads for
//! `INSERT ... FORMAT RowBinary`, written by the edge once per event.
//!
//! Hand-written because it is the hot path and needs only four types:
//! `String` (LEB128 length + bytes), `UInt8`, `UInt64` and `DateTime`
//! (`UInt32` seconds), all little-endian. Every column list is declared with
//! its row ([`crate::pipeline::rows`]); the writer knows nothing about tables.

/// Appends RowBinary values to a byte buffer.
pub struct RowWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> RowWriter<'a> {
    /// Writes into `buf`, appending.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }

    /// A `String` column.
    #[inline]
    pub fn string(&mut self, s: &[u8]) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// A `String` column whose bytes are produced by `f` (length patched after).
    ///
    /// Saves a temporary allocation when the value is JSON written straight
    /// from the parsed request. The length prefix is reserved as 4 bytes of
    /// LEB128 (values up to 256 MiB), padded with continuation bytes, which
    /// ClickHouse reads like any other varint.
    pub fn string_with<E>(
        &mut self,
        f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0x80, 0x80, 0x80, 0x00]);
        f(self.buf)?;
        let len = (self.buf.len() - at - 4) as u32;
        let slot = &mut self.buf[at..at + 4];
        slot[0] = (len & 0x7f) as u8 | 0x80;
        slot[1] = ((len >> 7) & 0x7f) as u8 | 0x80;
        slot[2] = ((len >> 14) & 0x7f) as u8 | 0x80;
        slot[3] = ((len >> 21) & 0x7f) as u8;
        Ok(())
    }

    /// A `UInt8` column.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A `UInt64` column.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `DateTime` column (seconds since the epoch, UTC).
    #[inline]
    pub fn datetime(&mut self, secs: u32) {
        self.buf.extend_from_slice(&secs.to_le_bytes());
    }

    #[inline]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one varint (tests walk rows with it).
    fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
        let mut v = 0u64;
        for (i, b) in bytes.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some((v, i + 1));
            }
        }
        None
    }

    #[test]
    fn strings_are_length_prefixed() {
        let mut buf = Vec::new();
        RowWriter::new(&mut buf).string(b"abc");
        assert_eq!(buf, b"\x03abc");
        let long = vec![b'x'; 300];
        buf.clear();
        RowWriter::new(&mut buf).string(&long);
        assert_eq!(&buf[..2], &[0xac, 0x02]);
    }

    #[test]
    fn padded_length_reads_back() {
        for n in [0usize, 1, 127, 128, 70_000, 3_000_000] {
            let mut buf = Vec::new();
            RowWriter::new(&mut buf)
                .string_with(|b| {
                    b.extend(std::iter::repeat_n(b'y', n));
                    Ok::<(), ()>(())
                })
                .expect("writes");
            assert_eq!(read_varint(&buf), Some((n as u64, 4)), "{n}");
            assert_eq!(buf.len(), n + 4);
        }
    }
}
