//! A minimal ZIP writer for tests, able to write archives that lie.

use std::io::Write;

/// MS-DOS date of 2024-05-17 and time 12:34:56.
pub const DOS_DATE: u16 = ((2024 - 1980) << 9) | (5 << 5) | 17;
pub const DOS_TIME: u16 = (12 << 11) | (34 << 5) | (56 / 2);

/// One member; the overrides make it lie.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub deflate: bool,
    pub flags: u16,
    pub made_by: u16,
    pub external: u32,
    pub method: Option<u16>,
    pub crc: Option<u32>,
    pub declared_size: Option<u64>,
    pub stored_bytes: Option<Vec<u8>>,
    pub offset: Option<u64>,
    pub zip64: bool,
    /// Extra fields of the local header, and added to the central header's.
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
}

impl Member {
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Member {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            deflate: false,
            flags: 1 << 11,
            made_by: (3 << 8) | 20,
            external: 0o100_644 << 16,
            method: None,
            crc: None,
            declared_size: None,
            stored_bytes: None,
            offset: None,
            zip64: false,
            local_extra: Vec::new(),
            central_extra: Vec::new(),
        }
    }

    pub fn deflated(name: &str, data: &[u8]) -> Self {
        Member { deflate: true, ..Member::stored(name, data) }
    }

    pub fn dir(name: &str) -> Self {
        Member { external: (0o40_755 << 16) | 0x10, ..Member::stored(name, b"") }
    }

    pub fn raw_name(mut self, name: &[u8], flags: u16, made_by: u16) -> Self {
        self.name = name.to_vec();
        self.flags = flags;
        self.made_by = made_by;
        self
    }

    fn payload(&self) -> Vec<u8> {
        if let Some(b) = &self.stored_bytes {
            return b.clone();
        }
        if self.deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&self.data).unwrap();
            e.finish().unwrap()
        } else {
            self.data.clone()
        }
    }
}

/// An archive under construction.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    pub members: Vec<Member>,
    pub comment: Vec<u8>,
    /// Write a ZIP64 end record and locator (and saturate the classic one).
    pub zip64_end: bool,
    /// Drop this many bytes from the end of the central directory (the end record
    /// then declares the shorter size).
    pub cd_trim: usize,
    /// Declare this many entries instead of the real count.
    pub declared_entries: Option<u16>,
}

fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u64le(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl Builder {
    pub fn new(members: Vec<Member>) -> Self {
        Builder { members, ..Builder::default() }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for m in &self.members {
            let offset = out.len() as u64;
            let payload = m.payload();
            let method = m.method.unwrap_or(if m.deflate { 8 } else { 0 });
            let crc = m.crc.unwrap_or_else(|| crc32fast::hash(&m.data));
            let usize_ = m.declared_size.unwrap_or(m.data.len() as u64);
            let csize = payload.len() as u64;
            // Local header.
            u32le(&mut out, 0x0403_4b50);
            u16le(&mut out, 20);
            u16le(&mut out, m.flags);
            u16le(&mut out, method);
            u16le(&mut out, DOS_TIME);
            u16le(&mut out, DOS_DATE);
            u32le(&mut out, crc);
            u32le(&mut out, csize as u32);
            u32le(&mut out, usize_ as u32);
            u16le(&mut out, m.name.len() as u16);
            u16le(&mut out, m.local_extra.len() as u16);
            out.extend_from_slice(&m.name);
            out.extend_from_slice(&m.local_extra);
            out.extend_from_slice(&payload);
            // Central header.
            let offset = m.offset.unwrap_or(offset);
            let mut extra = Vec::new();
            if m.zip64 {
                u16le(&mut extra, 1);
                u16le(&mut extra, 24);
                u64le(&mut extra, usize_);
                u64le(&mut extra, csize);
                u64le(&mut extra, offset);
            }
            extra.extend_from_slice(&m.central_extra);
            let sat = |x: u64| if m.zip64 { u32::MAX } else { x as u32 };
            u32le(&mut central, 0x0201_4b50);
            u16le(&mut central, m.made_by);
            u16le(&mut central, if m.zip64 { 45 } else { 20 });
            u16le(&mut central, m.flags);
            u16le(&mut central, method);
            u16le(&mut central, DOS_TIME);
            u16le(&mut central, DOS_DATE);
            u32le(&mut central, crc);
            u32le(&mut central, sat(csize));
            u32le(&mut central, sat(usize_));
            u16le(&mut central, m.name.len() as u16);
            u16le(&mut central, extra.len() as u16);
            u16le(&mut central, 0);
            u16le(&mut central, 0);
            u16le(&mut central, 0);
            u32le(&mut central, m.external);
            u32le(&mut central, sat(offset));
            central.extend_from_slice(&m.name);
            central.extend_from_slice(&extra);
        }
        central.truncate(central.len().saturating_sub(self.cd_trim));
        let cd_offset = out.len() as u64;
        let cd_size = central.len() as u64;
        out.extend_from_slice(&central);
        let count = self.members.len() as u64;
        let declared = self.declared_entries.map_or(count, u64::from);
        if self.zip64_end {
            let record_at = out.len() as u64;
            u32le(&mut out, 0x0606_4b50);
            u64le(&mut out, 44);
            u16le(&mut out, 45);
            u16le(&mut out, 45);
            u32le(&mut out, 0);
            u32le(&mut out, 0);
            u64le(&mut out, declared);
            u64le(&mut out, declared);
            u64le(&mut out, cd_size);
            u64le(&mut out, cd_offset);
            u32le(&mut out, 0x0706_4b50);
            u32le(&mut out, 0);
            u64le(&mut out, record_at);
            u32le(&mut out, 1);
        }
        let z = self.zip64_end;
        u32le(&mut out, 0x0605_4b50);
        u16le(&mut out, 0);
        u16le(&mut out, 0);
        u16le(&mut out, if z { 0xFFFF } else { declared as u16 });
        u16le(&mut out, if z { 0xFFFF } else { declared as u16 });
        u32le(&mut out, if z { u32::MAX } else { cd_size as u32 });
        u32le(&mut out, if z { u32::MAX } else { cd_offset as u32 });
        u16le(&mut out, self.comment.len() as u16);
        out.extend_from_slice(&self.comment);
        out
    }
}
