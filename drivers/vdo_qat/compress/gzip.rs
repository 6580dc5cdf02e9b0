// SPDX-License-Identifier: GPL-2.0

//! gzip members (RFC 1952) around raw deflate streams (RFC 1951).
//!
//! vdo_qat stores each compressed 4 KiB block as one gzip member: a 10-byte
//! header, the raw deflate stream that the crypto acomp API produces
//! (`qat_deflate` or `deflate-generic`), and an 8-byte trailer holding the
//! CRC-32 and the length of the uncompressed data (ISIZE), both
//! little-endian. A fragment cut from the disk therefore decompresses with
//! any gzip tool. The kernel's zlib cannot write this framing, and acomp
//! never returns QAT's CRC, so the caller computes the CRC with `crc32_le`
//! (see QZFS, USENIX ATC'19, and `shared/reference/qat-acomp.md`).
//!
//! Pure code (only `core`): compiled into the module and into `tools/pure`.

/// Length of the header vdo_qat writes (no optional fields).
pub const HEADER_LEN: usize = 10;
/// Length of the trailer: CRC-32 and ISIZE, 4 bytes each.
pub const TRAILER_LEN: usize = 8;
/// Bytes a member adds around its deflate stream.
pub const OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;

const ID1: u8 = 0x1f;
const ID2: u8 = 0x8b;
const CM_DEFLATE: u8 = 8;
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xe0;
const OS_UNIX: u8 = 3;

/// The header vdo_qat writes: deflate, no optional fields, MTIME 0 (none),
/// XFL 0, OS Unix.
pub const HEADER: [u8; HEADER_LEN] = [ID1, ID2, CM_DEFLATE, 0, 0, 0, 0, 0, 0, OS_UNIX];

/// Why bytes are not a gzip member we can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipError {
    /// Shorter than its header, optional fields and trailer.
    Truncated,
    /// Not `1f 8b`.
    BadMagic,
    /// A compression method other than deflate (8).
    BadMethod,
    /// Reserved flag bits set (RFC 1952 §2.3.1: must be rejected).
    ReservedFlags,
    /// The output buffer cannot hold the member.
    NoRoom,
}

/// The largest member worth storing for a block of `block` bytes: the 90%
/// rule (QZFS): a block whose member would exceed 90% of its size is stored
/// raw, as the space saved would not pay for the decompression.
pub const fn max_member(block: usize) -> usize {
    block * 9 / 10
}

/// The room to give the compressor for the deflate stream of a `block`-byte
/// block, so that the member obeys [`max_member`]. A compressor that runs
/// out of it (`-ENOSPC` from `deflate-generic`, `-E2BIG` from QAT) means
/// "store raw".
pub const fn deflate_budget(block: usize) -> usize {
    max_member(block).saturating_sub(OVERHEAD)
}

/// Frames a deflate stream of `deflate_len` bytes already written at
/// `buf[HEADER_LEN..]`: writes the header before it and the trailer
/// (`crc32` of the uncompressed data, `isize` = its length mod 2^32) after
/// it. Returns the member length in bytes.
///
/// # Errors
///
/// [`GzipError::NoRoom`] if `buf` is shorter than the member.
pub fn frame_in_place(
    buf: &mut [u8],
    deflate_len: usize,
    crc32: u32,
    isize: u32,
) -> Result<usize, GzipError> {
    let end = HEADER_LEN
        .checked_add(deflate_len)
        .and_then(|n| n.checked_add(TRAILER_LEN))
        .ok_or(GzipError::NoRoom)?;
    let buf = buf.get_mut(..end).ok_or(GzipError::NoRoom)?;
    buf[..HEADER_LEN].copy_from_slice(&HEADER);
    let t = end - TRAILER_LEN;
    buf[t..t + 4].copy_from_slice(&crc32.to_le_bytes());
    buf[t + 4..end].copy_from_slice(&isize.to_le_bytes());
    Ok(end)
}

/// A parsed gzip member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// The raw deflate stream.
    pub deflate: &'a [u8],
    /// CRC-32 of the uncompressed data, from the trailer.
    pub crc32: u32,
    /// Length of the uncompressed data mod 2^32, from the trailer.
    pub isize: u32,
}

fn skip_zero_terminated(data: &[u8], at: usize) -> Result<usize, GzipError> {
    let rest = data.get(at..).ok_or(GzipError::Truncated)?;
    let nul = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or(GzipError::Truncated)?;
    Ok(at + nul + 1)
}

/// Parses one gzip member that occupies all of `data` (vdo_qat records
/// each fragment's length). Optional header fields (FEXTRA, FNAME,
/// FCOMMENT, FHCRC), as gzip(1) or Python's gzip module write them, are
/// skipped; the header CRC is not checked (the trailer CRC covers the data).
///
/// # Errors
///
/// [`GzipError::Truncated`], [`GzipError::BadMagic`],
/// [`GzipError::BadMethod`] or [`GzipError::ReservedFlags`].
pub fn parse(data: &[u8]) -> Result<Member<'_>, GzipError> {
    if data.len() < OVERHEAD {
        return Err(GzipError::Truncated);
    }
    if data[0] != ID1 || data[1] != ID2 {
        return Err(GzipError::BadMagic);
    }
    if data[2] != CM_DEFLATE {
        return Err(GzipError::BadMethod);
    }
    let flags = data[3];
    if flags & FRESERVED != 0 {
        return Err(GzipError::ReservedFlags);
    }
    let mut at = HEADER_LEN;
    if flags & FEXTRA != 0 {
        let x = data.get(at..at + 2).ok_or(GzipError::Truncated)?;
        at += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    if flags & FNAME != 0 {
        at = skip_zero_terminated(data, at)?;
    }
    if flags & FCOMMENT != 0 {
        at = skip_zero_terminated(data, at)?;
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let t = data.len() - TRAILER_LEN;
    if at > t {
        return Err(GzipError::Truncated);
    }
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    Ok(Member {
        deflate: &data[at..t],
        crc32: le(&data[t..t + 4]),
        isize: le(&data[t + 4..]),
    })
}
