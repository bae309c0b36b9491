//! The archive format of a tenant export, and its writer and reader.
//!
//! An archive is one gzip stream (flate2) of frames: a kind byte, a big-endian u32 length,
//! the payload. Our own framing rather than tar because tar needs each entry's size before
//! its bytes, and a COPY stream's size is known only at its end: tar would force a temporary
//! file or the whole table in memory. The frames, in order:
//!
//! - the magic line `TENANTRY-EXPORT\n` (not framed);
//! - `H`: the [`Header`] as JSON (format, migrations, tenant row, users, tables and columns);
//! - per table, `T` (its name), `D`… (its rows in PostgreSQL's COPY text format, at most
//!   [`CHUNK`] bytes a frame), `E`;
//! - `Z`: the [`Trailer`] as JSON (per table rows, bytes, SHA-256 of its COPY text, and the
//!   SHA-256 of the header frame), then the end of the stream.
//!
//! The header and trailer together are the manifest. The checksums come last so the archive
//! streams in one pass; an import verifies them before it commits.

use anyhow::{bail, Context};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use uuid::Uuid;

/// The first bytes of every archive (inside the compression).
pub const MAGIC: &[u8] = b"TENANTRY-EXPORT\n";
/// The archive format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest data frame written; a reader refuses frames above [`MAX_FRAME`].
pub const CHUNK: usize = 64 * 1024;
/// The largest frame a reader accepts (a hand-made archive cannot make it allocate more).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What an archive says about itself before its rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// The newest migration applied to the source database.
    pub migration: String,
    /// Every migration applied to the source database.
    pub migrations: Vec<String>,
    /// When the snapshot was taken (RFC 3339, the database's clock).
    pub created_at: String,
    /// The tenant's row of `tenants`, as JSON (sealed secrets stay sealed).
    pub tenant: serde_json::Value,
    /// The users the tenant's rows refer to (members, authors, key creators…): identity only,
    /// never a password hash.
    pub users: Vec<UserEntry>,
    /// The tables, parents first, in the order their rows follow.
    pub tables: Vec<TableEntry>,
}

impl Header {
    /// The tenant's id in the source database.
    pub fn tenant_id(&self) -> anyhow::Result<Uuid> {
        self.tenant
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .context("the archive's tenant has no id")
    }

    /// A text field of the tenant's row.
    pub fn tenant_text(&self, key: &str) -> Option<&str> {
        self.tenant.get(key).and_then(|v| v.as_str())
    }
}

/// A user as the archive carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserEntry {
    /// Id in the source database.
    pub id: Uuid,
    /// Email: how an import matches the user in the target database.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
}

/// A table as the archive carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    /// Table name in `public`.
    pub name: String,
    /// The columns in the COPY data, in order (generated columns are not exported).
    pub columns: Vec<String>,
    /// Columns holding user ids (remapped by email on import).
    pub user_columns: Vec<String>,
    /// Rows in the snapshot (checked again against the data).
    pub rows: u64,
}

/// What an archive says about its rows, after them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trailer {
    /// SHA-256 (hex) of the header frame's payload.
    pub header_sha256: String,
    /// Per table, in order.
    pub tables: Vec<TableSum>,
}

/// The rows, bytes and checksum of one table's COPY text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableSum {
    /// Table name.
    pub name: String,
    /// Rows (lines of COPY text).
    pub rows: u64,
    /// Bytes of COPY text.
    pub bytes: u64,
    /// SHA-256 (hex) of the COPY text.
    pub sha256: String,
}

/// Counts and hashes one table's data as it streams.
pub struct Summer {
    name: String,
    hash: Sha256,
    rows: u64,
    bytes: u64,
}

impl Summer {
    /// Starts a table's sum.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            hash: Sha256::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds a chunk of COPY text; returns the rows it ended.
    pub fn add(&mut self, data: &[u8]) -> u64 {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        // COPY text escapes newlines inside values: one line is one row.
        let rows = data.iter().filter(|&&b| b == b'\n').count() as u64;
        self.rows += rows;
        rows
    }

    /// The table's sum.
    pub fn finish(self) -> TableSum {
        TableSum {
            name: self.name,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex(&self.hash.finalize()),
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes an archive to `W`, compressing as it goes.
pub struct ArchiveWriter<W: Write> {
    out: GzEncoder<W>,
    buf: Vec<u8>,
    table: Option<Summer>,
    sums: Vec<TableSum>,
    header_sha256: String,
    /// Compressed bytes are not visible through the encoder; this counts what went in.
    pub raw_bytes: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive with its header.
    pub fn new(out: W, header: &Header) -> anyhow::Result<Self> {
        // Level 1: several times faster than the default for about 10% larger archives;
        // COPY rows (ids, repeated words) compress well even so.
        let mut out = GzEncoder::new(out, flate2::Compression::fast());
        out.write_all(MAGIC)?;
        let json = serde_json::to_vec(header)?;
        let mut w = Self {
            out,
            buf: Vec::with_capacity(CHUNK),
            table: None,
            sums: Vec::new(),
            header_sha256: hex(&Sha256::digest(&json)),
            raw_bytes: 0,
        };
        w.frame(b'H', &json)?;
        Ok(w)
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> anyhow::Result<()> {
        let len = u32::try_from(payload.len()).context("frame too large")?;
        self.out.write_all(&[kind])?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(payload)?;
        self.raw_bytes += 5 + payload.len() as u64;
        Ok(())
    }

    /// Starts a table's rows.
    pub fn begin_table(&mut self, name: &str) -> anyhow::Result<()> {
        self.frame(b'T', name.as_bytes())?;
        self.table = Some(Summer::new(name));
        Ok(())
    }

    /// Adds COPY text of the current table; returns the rows it ended.
    pub fn data(&mut self, data: &[u8]) -> anyhow::Result<u64> {
        let rows = self
            .table
            .as_mut()
            .context("data outside a table")?
            .add(data);
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_data()?;
        }
        Ok(rows)
    }

    fn flush_data(&mut self) -> anyhow::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        for chunk in buf.chunks(CHUNK) {
            self.frame(b'D', chunk)?;
        }
        self.buf = buf;
        self.buf.clear();
        Ok(())
    }

    /// Ends the current table; returns its sum.
    pub fn end_table(&mut self) -> anyhow::Result<TableSum> {
        self.flush_data()?;
        self.frame(b'E', &[])?;
        let sum = self.table.take().context("no table to end")?.finish();
        self.sums.push(sum.clone());
        Ok(sum)
    }

    /// Writes the trailer and finishes the compression; returns it and the output.
    pub fn finish(mut self) -> anyhow::Result<(Trailer, W)> {
        let trailer = Trailer {
            header_sha256: self.header_sha256.clone(),
            tables: std::mem::take(&mut self.sums),
        };
        let json = serde_json::to_vec(&trailer)?;
        self.frame(b'Z', &json)?;
        let mut out = self.out.finish()?;
        out.flush()?;
        Ok((trailer, out))
    }
}

/// One frame read from an archive.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A table starts.
    Table(String),
    /// COPY text of the current table (in the reader's buffer).
    Data,
    /// The current table ends.
    End,
    /// The trailer; the archive ends.
    Trailer(Trailer),
}

/// Reads an archive from `R`.
pub struct ArchiveReader<R: Read> {
    input: GzDecoder<R>,
    /// The payload of the last [`Frame::Data`].
    pub buf: Vec<u8>,
    /// The header, read by [`ArchiveReader::new`].
    pub header: Header,
    /// SHA-256 of the header frame as read.
    pub header_sha256: String,
}

impl<R: Read> ArchiveReader<R> {
    /// Opens an archive: checks the magic and reads the header.
    pub fn new(input: R) -> anyhow::Result<Self> {
        let mut input = GzDecoder::new(input);
        let mut magic = [0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .context("not a Tenantry export (not gzip, or too short)")?;
        if magic != MAGIC {
            bail!("not a Tenantry export (wrong magic)");
        }
        let mut buf = Vec::new();
        let kind = read_frame(&mut input, &mut buf)?;
        if kind != b'H' {
            bail!("corrupted archive: no header");
        }
        let header: Header =
            serde_json::from_slice(&buf).context("corrupted archive: unreadable header")?;
        if header.format != FORMAT_VERSION {
            bail!(
                "archive format {} is not supported (this build reads format {FORMAT_VERSION})",
                header.format
            );
        }
        Ok(Self {
            input,
            header_sha256: hex(&Sha256::digest(&buf)),
            buf,
            header,
        })
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> anyhow::Result<Frame> {
        let kind = read_frame(&mut self.input, &mut self.buf)?;
        Ok(match kind {
            b'T' => Frame::Table(
                String::from_utf8(self.buf.clone()).context("corrupted archive: table name")?,
            ),
            b'D' => Frame::Data,
            b'E' => Frame::End,
            b'Z' => Frame::Trailer(
                serde_json::from_slice(&self.buf).context("corrupted archive: trailer")?,
            ),
            other => bail!("corrupted archive: unknown frame {other:#04x}"),
        })
    }
}

fn read_frame(input: &mut impl Read, buf: &mut Vec<u8>) -> anyhow::Result<u8> {
    let mut head = [0u8; 5];
    input
        .read_exact(&mut head)
        .context("corrupted or truncated archive")?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        bail!("corrupted archive: a frame of {len} bytes");
    }
    buf.clear();
    buf.resize(len, 0);
    input
        .read_exact(buf)
        .context("corrupted or truncated archive")?;
    Ok(head[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT_VERSION,
            migration: "1".into(),
            migrations: vec!["1".into()],
            created_at: "now".into(),
            tenant: serde_json::json!({"id": Uuid::nil()}),
            users: vec![],
            tables: vec![],
        }
    }

    #[test]
    fn frames_round_trip_with_sums() {
        let mut w = ArchiveWriter::new(Vec::new(), &header()).unwrap();
        w.begin_table("t").unwrap();
        assert_eq!(w.data(b"a\t1\nb\t2\n").unwrap(), 2);
        let big = vec![b'x'; CHUNK * 2 + 5];
        w.data(&big).unwrap();
        let sum = w.end_table().unwrap();
        assert_eq!(sum.rows, 2);
        let (trailer, bytes) = w.finish().unwrap();
        let mut r = ArchiveReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header, header());
        assert_eq!(r.next_frame().unwrap(), Frame::Table("t".into()));
        let mut s = Summer::new("t");
        loop {
            match r.next_frame().unwrap() {
                Frame::Data => {
                    assert!(r.buf.len() <= CHUNK);
                    s.add(&r.buf);
                }
                Frame::End => break,
                f => panic!("{f:?}"),
            }
        }
        assert_eq!(s.finish(), sum);
        assert_eq!(r.next_frame().unwrap(), Frame::Trailer(trailer.clone()));
        assert_eq!(trailer.header_sha256, r.header_sha256);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(ArchiveReader::new(&b"hello"[..]).is_err());
    }
}
